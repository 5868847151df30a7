package memengine

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/netmodels/netmodels/core/engine"
)

// The errors below copy the shapes the net package returns for real sockets,
// so protocol code that inspects errors (errors.Is(err, syscall.ECONNRESET),
// errors.As(err, &opErr)) behaves the same on every engine.

func dialError(remote net.Addr, errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: remote, Err: os.NewSyscallError("connect", errno)}
}

func resetError(op string, c *conn) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.localAddr, Addr: c.remoteAddr,
		Err: os.NewSyscallError(op, syscall.ECONNRESET)}
}

func readBufferFullError(c *conn) error {
	return fmt.Errorf("memengine: read %v: %w", c.remoteAddr, engine.ErrReadBufferFull)
}

var errAddrInUse = os.NewSyscallError("bind", syscall.EADDRINUSE)
