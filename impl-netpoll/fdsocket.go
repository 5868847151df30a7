package netpollengine

import (
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine/serial"
)

// fdSocket is the write side of a connection once netpoll holds the
// socket: it writes netpoll's own descriptor, so the socket has one
// descriptor, not two (before, the engine kept the *net.TCPConn it was
// accepted or dialed as, and netpoll read a dup of it: 19,999 descriptors
// for 10,000 connections). The engine swaps it in for the TCPConn right
// after the first attach (serial.BaseConn.SwapSocketLocked) and closes the
// TCPConn.
//
// netpoll closes its descriptor on its own (a hang-up) or when the engine
// closes the connection, always after the engine's close callback
// (onNetpollClose) has run. That callback ends the direct path under mu's
// write lock, so no write(2) ever reaches the number once it may belong to
// another file; writes hold the read lock around the system call only.
//
// When netpoll lets go of a socket the connection still uses (after the
// peer's FIN the write side lives on), the write side keeps a dup of it
// (own): a bare descriptor, written directly like netpoll's, one fcntl and
// one close. A write that must wait for writability goes through the
// fallback: the socket as an *os.File in Go's poller (serial.TCPSocket
// over its RawConn), made on first need (from the own dup if there is one,
// else from a new dup) and kept until the connection closes, as impl-gnet
// does. A connection that never fills its socket buffer never has one.
// (Before, letGo made the fallback at once: fcntl, F_GETFL and an epoll_ctl
// ADD into Go's poller, and an epoll_ctl DEL at the close, on both sockets
// of every proxied connection, for a write side that mostly sends one
// shutdown.)
type fdSocket struct {
	laddr, raddr net.Addr

	mu  sync.RWMutex
	fd  int         // the direct descriptor: netpoll's, or own; -1 once neither
	att *attachment // whose descriptor fd is (nil: own)
	own bool        // fd is the engine's dup, closed by closeFallback
	fb  *os.File    // the fallback, or nil
	fbs *serial.TCPSocket
}

var _ serial.Socket = (*fdSocket)(nil)

func newFDSocket(a *attachment, laddr, raddr net.Addr) *fdSocket {
	return &fdSocket{laddr: laddr, raddr: raddr, fd: a.ri.op.FD, att: a}
}

func (s *fdSocket) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.laddr, Addr: s.raddr, Err: err}
}

// direct returns the fallback when the direct path is gone (fd < 0) and
// there is one; with the read lock held when it returns ok.
func (s *fdSocket) direct() (ok bool, fbs *serial.TCPSocket) {
	s.mu.RLock()
	if s.fd >= 0 {
		return true, nil
	}
	fbs = s.fbs
	s.mu.RUnlock()
	return false, fbs
}

// TryWrite implements serial.Socket.
func (s *fdSocket) TryWrite(b []byte) (int, error) {
	ok, fbs := s.direct()
	if !ok {
		if fbs == nil {
			return 0, s.opError("write", net.ErrClosed)
		}
		return fbs.TryWrite(b)
	}
	n, err := unix.Write(s.fd, b)
	for err == unix.EINTR {
		n, err = unix.Write(s.fd, b)
	}
	s.mu.RUnlock()
	return s.tried("write", n, err)
}

// TryWritev implements serial.Socket.
func (s *fdSocket) TryWritev(iov [][]byte) (int, error) {
	ok, fbs := s.direct()
	if !ok {
		if fbs == nil {
			return 0, s.opError("write", net.ErrClosed)
		}
		return fbs.TryWritev(iov)
	}
	n, err := s.writev(iov)
	s.mu.RUnlock()
	return s.tried("writev", n, err)
}

// writev is one writev(2) on the direct descriptor (read lock held).
func (s *fdSocket) writev(iov [][]byte) (int, error) {
	for {
		n, err := unix.Writev(s.fd, iov)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// tried maps a non-blocking attempt's result: EAGAIN is a short count.
func (s *fdSocket) tried(op string, n int, err error) (int, error) {
	n = max(n, 0)
	if err == nil || err == unix.EAGAIN {
		return n, nil
	}
	return n, s.opError("write", os.NewSyscallError(op, err))
}

// Writev implements serial.Socket: one writev(2), waiting for writability
// in Go's poller through the fallback when the socket is full.
func (s *fdSocket) Writev(iov [][]byte) (int, error) {
	ok, fbs := s.direct()
	if ok {
		if s.fbs != nil {
			fbs = s.fbs
			s.mu.RUnlock()
			return fbs.Writev(iov)
		}
		n, err := s.writev(iov)
		s.mu.RUnlock()
		if err != unix.EAGAIN {
			return s.tried("writev", n, err)
		}
		if fbs, err = s.fallback(); err != nil {
			return 0, err
		}
	}
	if fbs == nil {
		return 0, net.ErrClosed
	}
	return fbs.Writev(iov)
}

// fallback makes the fallback if there is none yet.
func (s *fdSocket) fallback() (*serial.TCPSocket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fbs == nil {
		if s.fd < 0 {
			return nil, net.ErrClosed
		}
		if err := s.makeFallbackLocked(); err != nil {
			return nil, s.opError("write", err)
		}
	}
	return s.fbs, nil
}

// makeFallbackLocked makes the fallback: the own dup becomes it (the
// direct path ends: writes go through Go's poller from then on), or, while
// netpoll holds the socket, a new dup does.
func (s *fdSocket) makeFallbackLocked() error {
	nfd := s.fd
	if s.own {
		s.fd, s.own = -1, false
	} else {
		var err error
		if nfd, err = s.dupLocked(); err != nil {
			return err
		}
	}
	f := os.NewFile(uintptr(nfd), "tcp") // non-blocking: in Go's poller
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return err
	}
	s.fb = f
	s.fbs = serial.NewRawSocket(raw, s.laddr, s.raddr, func() error { return shutWrite(raw) })
	return nil
}

func (s *fdSocket) dupLocked() (int, error) {
	nfd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	return nfd, nil
}

func shutWrite(raw syscall.RawConn) error {
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return os.NewSyscallError("shutdown", serr)
}

// Control runs fn on a descriptor of the socket (for getsockopt and the
// like); false when the connection has none left.
func (s *fdSocket) Control(fn func(fd int)) bool {
	ok, _ := s.direct()
	if ok {
		fn(s.fd)
		s.mu.RUnlock()
		return true
	}
	s.mu.RLock()
	fb := s.fb
	s.mu.RUnlock()
	if fb == nil {
		return false
	}
	raw, err := fb.SyscallConn()
	return err == nil && raw.Control(func(fd uintptr) { fn(int(fd)) }) == nil
}

// CloseWrite implements serial.Socket.
func (s *fdSocket) CloseWrite() error {
	var serr error
	if !s.Control(func(fd int) { serr = unix.Shutdown(fd, unix.SHUT_WR) }) {
		return s.opError("shutdown", net.ErrClosed)
	}
	if serr != nil {
		return s.opError("shutdown", os.NewSyscallError("shutdown", serr))
	}
	return nil
}

// Linger0 sets SO_LINGER 0 (engine.Aborter).
func (s *fdSocket) Linger0() error {
	var serr error
	s.Control(func(fd int) {
		serr = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	return os.NewSyscallError("setsockopt", serr)
}

// RawFallback returns a syscall.RawConn of the socket that outlives
// netpoll's descriptor (to attach the socket again), or nil.
func (s *fdSocket) RawFallback() syscall.RawConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fb == nil && s.own {
		_ = s.makeFallbackLocked() // EMFILE: nil, the connection closes
	}
	if s.fb == nil {
		return nil
	}
	raw, err := s.fb.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// letGo runs in a's close callback, before netpoll closes a's descriptor.
// keep: the connection goes on (a hang-up: the write side outlives the
// peer's FIN, or a false alarm attaches the socket again), so the write
// side takes its own dup first, unless it has the fallback already;
// otherwise the connection is closing.
func (s *fdSocket) letGo(a *attachment, keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != a || s.fd < 0 {
		return
	}
	s.att = nil
	if keep && s.fbs == nil {
		if nfd, err := s.dupLocked(); err == nil {
			s.fd, s.own = nfd, true
			return
		} // EMFILE: writes fail and the connection closes
	}
	s.fd = -1
}

// closeFallback closes the own dup or the fallback, as the connection
// closes: before netpoll closes its descriptor, so that netpoll's is the
// socket's last (interest.go, release). The own dup is closed under the
// write lock: no write is in flight on its number.
func (s *fdSocket) closeFallback() {
	s.mu.Lock()
	if s.own {
		_ = unix.Close(s.fd)
		s.fd, s.own = -1, false
	}
	fb := s.fb
	s.mu.Unlock()
	if fb != nil {
		_ = fb.Close()
	}
}
