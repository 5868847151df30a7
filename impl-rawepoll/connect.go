package rawepoll

import (
	"fmt"
	"net"
	"os"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/sockaddr"
	"golang.org/x/sys/unix"
)

// Dial implements engine.Engine. The socket is created and connect(2)
// started on the caller's goroutine (non-blocking: EINPROGRESS), then the
// connection is handed to its worker, which waits for EPOLLOUT and reads
// SO_ERROR, as Ceph's PosixWorker::connect and AsyncConnection do.
func (s *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	if h == nil {
		return nil, fmt.Errorf("rawepoll: dial %s: nil handler", addr)
	}
	raddr, err := sockaddr.ResolveTCP(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	sa, family, err := sockaddr.ToUnix(raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err}
	}
	if s.reg.Closed() {
		return nil, s.reg.ClosedError("dial", addr)
	}
	var w *worker
	if near, ok := opts.Near.(*conn); ok && near.w.stack == s {
		// Loop affinity: the proxy's two legs share a worker, so their
		// callbacks are serialised without locks.
		w = near.w
		w.load.Add(1)
	} else {
		w = s.pickWorker()
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		w.load.Add(-1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: os.NewSyscallError("socket", err)}
	}
	s.setSockopts(fd)
	c := newConn(w, fd, raddr)
	c.h = h
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	// An interrupted connect goes on in the background (POSIX): like
	// EINPROGRESS, its end is EPOLLOUT and SO_ERROR; calling it again
	// would only report EALREADY.
	switch err = unix.Connect(fd, sa); err {
	case nil:
		c.dialDone = true
	case unix.EINPROGRESS, unix.EINTR:
	default:
		// Refused at once (or unreachable): still reported through OnClose
		// on the loop, as the contract wants every dial result there.
		c.dialErr = &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: os.NewSyscallError("connect", err)}
	}
	// The timer exists before the loop can see the connection, so the
	// loop owns c.dialTimer from the start.
	c.dialTimer = w.center.afterFunc(timeout, c, c.dialTimeout)
	if !s.reg.AddConn(c) {
		c.dialTimer.Stop()
		unix.Close(fd)
		w.load.Add(-1)
		return nil, s.reg.ClosedError("dial", addr)
	}
	// A refused post: see CloseWith; Shutdown has closed c already.
	_ = w.center.post(c.register)
	return c, nil
}

// startConnect runs on the loop once the dialed connection is registered.
func (c *conn) startConnect() {
	switch {
	case c.dialErr != nil:
		c.closeNow(c.dialErr)
	case c.dialDone:
		c.connected()
	default:
		c.state = stateConnecting
		c.updateInterest()
	}
}

// finishConnect is the write callback of a connecting socket. EPOLLOUT
// without EPOLLERR/EPOLLHUP is a connect(2) that succeeded (as HAProxy
// takes it); otherwise SO_ERROR tells how it ended.
func (c *conn) finishConnect() {
	var soerr int
	var err error
	if c.w.center.bits&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		soerr, err = unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	}
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		if err == unix.EINPROGRESS || err == unix.EALREADY || err == unix.EINTR {
			return // spurious wake-up
		}
		c.closeNow(&net.OpError{Op: "dial", Net: "tcp", Addr: c.raddr, Err: os.NewSyscallError("connect", err)})
		return
	}
	c.connected()
}

func (c *conn) connected() {
	c.dialTimer.Stop()
	c.open()
}

func (c *conn) dialTimeout() {
	if c.state == stateConnecting || c.state == stateNew {
		c.closeNow(&net.OpError{Op: "dial", Net: "tcp", Addr: c.raddr, Err: os.ErrDeadlineExceeded})
	}
}

// pickWorker is Ceph's NetworkStack::get_worker: the worker with the
// fewest connections gets the next one.
func (s *Engine) pickWorker() *worker {
	best := s.workers[0]
	bl := best.load.Load()
	for _, w := range s.workers[1:] {
		if l := w.load.Load(); l < bl {
			best, bl = w, l
		}
	}
	best.load.Add(1)
	return best
}

// setSockopts applies the per-socket options every engine sets.
func (s *Engine) setSockopts(fd int) {
	if !s.cfg.Nagle {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
}

// opError wraps err like the net package does, with the peer.
func (c *conn) opError(op string, err error) error {
	if errno, ok := err.(unix.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.raddr, Err: err}
}
