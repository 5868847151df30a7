package rawepoll

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/core/engine/serial"
	"github.com/netmodels/netmodels/core/engine/sockaddr"
	"golang.org/x/sys/unix"
)

const (
	listenBacklog = 4096
	// acceptBatch bounds accepts per readiness, so a connection storm
	// does not hold the loop.
	acceptBatch = 64
	// acceptPause is how long a listener rests after EMFILE/ENFILE, as
	// HAProxy pauses its listeners when out of descriptors; accepting in a
	// loop meanwhile would only spin.
	acceptPause = 100 * time.Millisecond
)

// listener implements engine.Listener over one or more listening sockets.
type listener struct {
	s                  *Engine
	addr               net.Addr
	newHandler         func(engine.Conn) engine.Handler
	socks              []*lsock
	closed             atomic.Bool
	loopkit.AcceptGate // Pause, Resume, SetBudget; Wake re-arms the sockets
}

// lsock is one listening socket on one worker.
type lsock struct {
	l  *listener
	w  *worker
	fd int
	fe *fileEvent
}

// Listen implements engine.Engine.
func (s *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("rawepoll: listen %s: nil handler factory", addr)
	}
	taddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	l := &listener{s: s, newHandler: newHandler}
	l.Wake = func() {
		for _, ls := range l.socks {
			_ = ls.w.center.post(ls.resume) // refused: Close closed the socket
		}
	}
	n := 1
	if s.opts.reusePort {
		n = len(s.workers)
	}
	for i := 0; i < n; i++ {
		fd, bound, err := s.bindListen(taddr, n > 1)
		if err != nil {
			for _, ls := range l.socks {
				unix.Close(ls.fd)
			}
			return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: taddr, Err: err}
		}
		if i == 0 {
			// Every further socket binds the port the first one got.
			l.addr = bound
			taddr = bound.(*net.TCPAddr)
		}
		w := s.workers[i]
		if n == 1 {
			w = s.workers[int(s.listenSeq.Add(1)-1)%len(s.workers)]
		}
		l.socks = append(l.socks, &lsock{l: l, w: w, fd: fd})
	}
	if !s.reg.AddListener(l) {
		for _, ls := range l.socks {
			unix.Close(ls.fd)
		}
		return nil, s.reg.ClosedError("listen", addr)
	}
	for _, ls := range l.socks {
		// A refused post: Shutdown closed l, and its sockets, first.
		_ = ls.w.center.post(ls.register)
	}
	return l, nil
}

// bindListen creates, binds and listens one non-blocking socket.
func (s *Engine) bindListen(a *net.TCPAddr, reusePort bool) (int, net.Addr, error) {
	sa, family, err := sockaddr.ToUnix(a)
	if err != nil {
		return -1, nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, net.Addr, error) {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if family == unix.AF_INET6 && a.IP == nil {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return fail("listen", err)
	}
	bound, err := sockaddr.SockName(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, sockaddr.TCPAddr(bound), nil
}

// register runs on the socket's worker.
func (ls *lsock) register() {
	if ls.l.closed.Load() {
		return // Close ran first and posted the close after this
	}
	ls.fe = ls.w.center.createFileEvent(ls.fd, ls.onAccept, nil)
	_ = ls.w.center.setInterest(ls.fe, unix.EPOLLIN)
}

// onAccept takes up to acceptBatch connections and places each on a
// worker.
func (ls *lsock) onAccept() {
	s := ls.l.s
	for i := 0; i < acceptBatch; i++ {
		// Reserved before the accept: the loops' SO_REUSEPORT sockets share it.
		if !ls.l.TryTake() { // the backlog holds the clients until woken
			_ = ls.w.center.setInterest(ls.fe, 0)
			return
		}
		nfd, peer, err := sockaddr.Accept4(ls.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			ls.l.Untake()
			// One that failed on its way in (EPROTO...) is skipped; an unknown
			// error pauses like EMFILE (serial.ClassifyAcceptError).
			switch class := serial.ClassifyAcceptError(err); {
			case err == unix.EAGAIN:
			case class == serial.AcceptSkip:
				continue
			case class == serial.AcceptBackOff:
				_ = ls.w.center.setInterest(ls.fe, 0)
				ls.w.center.afterFunc(acceptPause, nil, ls.resume)
			default: // EINVAL after Close's shutdown: the posted close frees the socket
				_ = ls.w.center.setInterest(ls.fe, 0)
			}
			return
		}
		s.setSockopts(nfd)
		w := ls.w
		if s.opts.reusePort {
			w.load.Add(1)
		} else {
			w = s.pickWorker()
		}
		c := newConn(w, nfd, sockaddr.TCPAddr(peer))
		c.accept = ls.l.newHandler
		c.laddr = sockaddr.AcceptedLocal(ls.l.addr)
		switch {
		case !s.reg.AddConn(c):
			unix.Close(nfd)
			w.load.Add(-1)
		case w == ls.w:
			c.register()
		default:
			// A refused post: see CloseWith; Shutdown has closed c already.
			_ = w.center.post(c.register)
		}
	}
}

func (ls *lsock) resume() {
	if !ls.l.closed.Load() && ls.fe != nil {
		_ = ls.w.center.setInterest(ls.fe, unix.EPOLLIN)
	}
}

// close runs on the socket's worker (or after it exited).
func (ls *lsock) close() {
	if ls.fe != nil {
		ls.w.center.deleteFileEvent(ls.fe)
		ls.fe = nil
	}
	unix.Close(ls.fd)
}

// Addr implements engine.Listener.
func (l *listener) Addr() net.Addr { return l.addr }

// Close implements engine.Listener. shutdown(2) on a listening socket
// stops it accepting at once (new SYNs are refused) from any goroutine;
// the loop that owns the descriptor then closes it.
func (l *listener) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.s.reg.RemoveListener(l)
	for _, ls := range l.socks {
		_ = unix.Shutdown(ls.fd, unix.SHUT_RD)
		if ls.w.center.post(ls.close) != nil {
			ls.close() // the loop has left: no thread to race with
		}
	}
	return nil
}
