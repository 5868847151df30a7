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
//
// RawConn.Write takes a function, which escapes; a closure per write would
// cost an allocation per write. So the socket builds its two functions
// once and passes each write's arguments and results through the fields
// below. That needs the write methods never to overlap, which OutQueue
// guarantees: TryWrite and TryWritev run under the connection's mutex with
// no flusher, Writev only in the one flusher, and a splice claims the
// write side before using the socket.
type TCPSocket struct {
	closeWrite   func() error
	raw          syscall.RawConn
	laddr, raddr net.Addr // for errors

	tryFn, waitFn func(fd uintptr) bool // built once: see above
	b             []byte                // the write's bytes (tryFn, when iov is nil)
	iov           [][]byte              // the write's slices
	n             int                   // its result
	werr          error
}

var _ Socket = (*TCPSocket)(nil)

// NewTCPSocket wraps tc, whose SyscallConn is raw.
func NewTCPSocket(tc *net.TCPConn, raw syscall.RawConn) *TCPSocket {
	return NewRawSocket(raw, tc.LocalAddr(), tc.RemoteAddr(), tc.CloseWrite)
}

// NewRawSocket is a TCPSocket over any pollable descriptor of a connected
// socket (an *os.File's SyscallConn, say); closeWrite sends its FIN.
func NewRawSocket(raw syscall.RawConn, laddr, raddr net.Addr, closeWrite func() error) *TCPSocket {
	s := &TCPSocket{closeWrite: closeWrite, raw: raw, laddr: laddr, raddr: raddr}
	s.tryFn = s.tryOnce
	s.waitFn = s.writevOrWait
	return s
}

// TryWrite implements Socket.
func (s *TCPSocket) TryWrite(b []byte) (int, error) {
	s.b = b
	n, err := s.try()
	s.b = nil
	return n, err
}

// TryWritev implements Socket.
func (s *TCPSocket) TryWritev(iov [][]byte) (int, error) {
	s.iov = iov
	n, err := s.try()
	s.iov = nil
	return n, err
}

// tryOnce is tryFn: one write(2) or writev(2), retried on EINTR only.
func (s *TCPSocket) tryOnce(fd uintptr) bool {
	for {
		if s.iov != nil {
			s.n, s.werr = unix.Writev(int(fd), s.iov)
		} else {
			s.n, s.werr = unix.Write(int(fd), s.b)
		}
		if s.werr != unix.EINTR {
			return true
		}
	}
}

// try makes one non-blocking attempt; EAGAIN is not an error.
func (s *TCPSocket) try() (int, error) {
	s.n, s.werr = 0, nil
	err := s.raw.Write(s.tryFn)
	n, werr := max(s.n, 0), s.werr
	s.werr = nil
	if err == nil && werr != nil && werr != unix.EAGAIN {
		err = os.NewSyscallError("write", werr)
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: s.laddr, Addr: s.raddr, Err: err}
	}
	return n, nil
}

// writevOrWait is waitFn: writev(2), retried on EINTR; false on EAGAIN
// makes RawConn.Write wait for writability and call it again.
func (s *TCPSocket) writevOrWait(fd uintptr) bool {
	for {
		s.n, s.werr = unix.Writev(int(fd), s.iov)
		switch s.werr {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true
	}
}

// Writev implements Socket. A socket closed under it reports
// net.ErrClosed unwrapped.
func (s *TCPSocket) Writev(iov [][]byte) (int, error) {
	s.iov, s.n, s.werr = iov, 0, nil
	err := s.raw.Write(s.waitFn)
	n, werr := max(s.n, 0), s.werr
	s.iov, s.werr = nil, nil
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
func (s *TCPSocket) CloseWrite() error { return s.closeWrite() }

// Linger0 sets SO_LINGER 0, so that the socket's close resets the
// connection (engine.Aborter).
func (s *TCPSocket) Linger0() error {
	var serr error
	if err := s.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}
