package enginetest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// StalledAddr returns the address of a listener on 127.0.0.1 that never
// accepts and whose accept queue is already full, so the kernel drops every
// further SYN and a dial to it hangs until the dialer's own timeout: the way
// to test a dial timeout without a route to nowhere. The listener and the
// connections that fill its queue close in t.Cleanup.
//
// It is a raw socket, not net.Listen, because net.Listen takes the
// system's somaxconn as its backlog; backlog 0 lets the queue hold one.
func StalledAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("stalled listener: socket: %v", err)
	}
	tb.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("stalled listener: bind: %v", err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		tb.Fatalf("stalled listener: listen: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatalf("stalled listener: getsockname: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	// Fill the queue: the first dial (or first few) completes in the
	// kernel and waits there unaccepted; the first that times out shows
	// the queue is full.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		tb.Cleanup(func() { _ = c.Close() })
	}
	tb.Fatalf("stalled listener %s: 4 dials completed, the accept queue never filled", addr)
	return ""
}
