package serial

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket is the write side of a connected socket, as an OutQueue uses it.
type Socket interface {
	// TryWrite and TryWritev make one non-blocking write(2) or writev(2);
	// a full socket buffer is a short count, not an error.
	TryWrite(b []byte) (int, error)
	TryWritev(iov [][]byte) (int, error)
	// Writev does one writev(2), waiting (in a poller, not on a thread)
	// while the socket buffer is full.
	Writev(iov [][]byte) (int, error)
	// CloseWrite sends FIN (shutdown(SHUT_WR)).
	CloseWrite() error
}

// TCPSocket is a Socket over a *net.TCPConn: writes go straight to the fd
// through its syscall.RawConn, and a blocking Writev waits for writability
// in the Go runtime's poller.
type TCPSocket struct {
	tc           *net.TCPConn
	raw          syscall.RawConn
	laddr, raddr net.Addr // for errors
}

var _ Socket = (*TCPSocket)(nil)

// NewTCPSocket wraps tc, whose SyscallConn is raw.
func NewTCPSocket(tc *net.TCPConn, raw syscall.RawConn) *TCPSocket {
	return &TCPSocket{tc: tc, raw: raw, laddr: tc.LocalAddr(), raddr: tc.RemoteAddr()}
}

// TryWrite implements Socket.
func (s *TCPSocket) TryWrite(b []byte) (int, error) {
	return s.try(func(fd int) (int, error) { return unix.Write(fd, b) })
}

// TryWritev implements Socket.
func (s *TCPSocket) TryWritev(iov [][]byte) (int, error) {
	return s.try(func(fd int) (int, error) { return unix.Writev(fd, iov) })
}

// try makes one non-blocking attempt; EAGAIN is not an error.
func (s *TCPSocket) try(write func(fd int) (int, error)) (int, error) {
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = write(int(fd))
			if werr != unix.EINTR {
				return true
			}
		}
	})
	if n < 0 {
		n = 0
	}
	if err == nil && werr != nil && werr != unix.EAGAIN {
		err = os.NewSyscallError("write", werr)
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: s.laddr, Addr: s.raddr, Err: err}
	}
	return n, nil
}

// Writev implements Socket. A socket closed under it reports
// net.ErrClosed unwrapped.
func (s *TCPSocket) Writev(iov [][]byte) (int, error) {
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), iov)
			switch werr {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for writability, then call again
			}
			return true
		}
	})
	if n < 0 {
		n = 0
	}
	if err == nil && werr != nil {
		err = os.NewSyscallError("writev", werr)
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return n, err
		}
		return n, &net.OpError{Op: "write", Net: "tcp", Source: s.laddr, Addr: s.raddr, Err: err}
	}
	return n, nil
}

// CloseWrite implements Socket.
func (s *TCPSocket) CloseWrite() error { return s.tc.CloseWrite() }
