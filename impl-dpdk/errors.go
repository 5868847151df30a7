package dpdkengine

import "syscall"

// Errors wrapped in *net.OpError, matching what the kernel engines return.
var (
	errConnRefused error = syscall.ECONNREFUSED
	errConnReset   error = syscall.ECONNRESET
)
