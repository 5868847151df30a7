package netpollengine

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
)

// The read path is netpoll's: its poller (epoll, level-triggered) reads the
// socket into the connection's LinkBuffer and starts one processing task
// per connection on its goroutine pool, which calls onRequest. onRequest
// hands the buffered bytes to OnData with Peek (no copy while the bytes sit
// in one LinkBuffer node; netpoll copies them into one slice only when they
// span nodes), then Skip(consumed) and Release, so the unconsumed rest
// stays in netpoll's buffer and comes back with newer bytes appended.
//
// netpoll's task calls onRequest again for as long as bytes are buffered,
// so onRequest must not return with bytes it cannot deliver (the task would
// spin): when the handler needs more bytes it waits in Peek(n+1) (netpoll's
// blocking read), and while reads are paused it parks on c.Cond.

// start attaches an established socket: OnOpen on the loop, then netpoll.
func (c *conn) start(tc *net.TCPConn) {
	if !c.SetSocket(tc) || !c.Open() {
		return
	}
	c.attach()
}

// attach hands the socket to netpoll, unless reading is paused: a
// connection paused from OnOpen (a proxy waiting for its backend, a
// throttle already full) is not given to netpoll until ResumeRead, so not
// one byte is read for it and TCP pushes back on the peer from the start.
func (c *conn) attach() {
	c.Mu.Lock()
	if c.Closing {
		c.Mu.Unlock()
		return
	}
	if c.paused {
		c.attachDeferred = true
		c.Mu.Unlock()
		return
	}
	raw := c.Raw
	c.Mu.Unlock()
	nc, err := c.attachNetpoll(raw)
	if err != nil {
		c.CloseWith(fmt.Errorf("netpoll: attach %s: %w", c.RemoteAddr(), err))
		return
	}
	c.Mu.Lock()
	if c.Closing {
		c.Mu.Unlock()
		_ = nc.Close()
		return
	}
	c.nc = nc
	c.Mu.Unlock()
	c.ri.hook(operatorOf(nc), c.eng.cfg.ReadBufferSize, func() bool {
		return c.pausedFlag.Load() || nc.Reader().Len() > c.eng.readAheadLimit
	})
	// Close callbacks run newest first: ours before netpoll's own, which
	// closes the fd.
	_ = nc.AddCloseCallback(c.onNetpollClose)
	_ = nc.SetOnRequest(c.onRequest)
	if !nc.IsActive() && nc.Reader().Len() == 0 {
		// The peer hung up before the callbacks were in place: netpoll
		// called nothing and leaves the closing to us.
		c.readEnded()
	}
}

// attachNetpoll gives netpoll its own dup of the socket, so that netpoll
// and the Go runtime each close only their own fd and neither can close
// the other's (a number the kernel might already have reused).
func (c *conn) attachNetpoll(raw interface {
	Control(func(fd uintptr)) error
}) (netpoll.Connection, error) {
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("dup", derr)
	}
	nc, err := netpoll.NewFDConnection(fd) // registers with a poller; closes fd on failure
	if err != nil {
		return nil, err
	}
	if err := checkLayout(nc); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return nc, nil
}

// onRequest is netpoll's OnRequest: it runs on netpoll's processing task,
// at most one per connection at a time.
func (c *conn) onRequest(_ context.Context, nc netpoll.Connection) error {
	c.eng.reg.Add()
	defer c.eng.reg.Done()
	r := nc.Reader()
	rbs := c.eng.cfg.ReadBufferSize
	for {
		if !c.waitResumed(nc) {
			return nil // closing: netpoll's task sees the close and ends
		}
		n := r.Len()
		// netpoll has no read-ahead limit either: a handler that consumes
		// more slowly than bytes arrive would let the LinkBuffer grow.
		// Above readAheadLimit the poller stops reading this fd until the
		// handler has caught up.
		if n <= c.eng.readAheadLimit {
			c.ri.start(nc.IsActive())
		}
		if n == 0 {
			return nil
		}
		in, err := r.Peek(min(n, rbs))
		if err != nil {
			return nil
		}
		consumed, wantMore := c.deliver(in)
		if consumed > 0 {
			_ = r.Skip(consumed)
			_ = r.Release()
		}
		if !wantMore {
			continue // all consumed, or paused or closed meanwhile
		}
		left := len(in) - consumed
		if consumed == 0 && len(in) >= rbs {
			c.CloseWith(fmt.Errorf("netpoll: read %s: %w", c.RemoteAddr(), engine.ErrReadBufferFull))
			return nil
		}
		if r.Len() > left {
			continue // newer bytes already arrived
		}
		// The handler has seen every buffered byte and needs more: wait
		// for one more in netpoll's blocking read, with the poller reading.
		c.ri.start(nc.IsActive())
		if _, err := r.Peek(r.Len() + 1); err != nil {
			if c.Closed() {
				return nil
			}
			// Peer EOF (or reset: netpoll reports both as a hang-up). The
			// rest is an incomplete message no OnData will see again.
			_ = r.Skip(r.Len())
			_ = r.Release()
			c.ri.release()
			c.readEnded()
			return nil
		}
	}
}

// deliver calls OnData while the handler makes progress on in. It reports
// how much was consumed and whether the handler stopped because it needs
// more bytes (as opposed to consuming everything, or deliveries being held
// by a pause or a close).
func (c *conn) deliver(in []byte) (consumed int, wantMore bool) {
	c.Loop.Acquire()
	defer c.Loop.Release()
	for consumed < len(in) {
		if c.readHeld() {
			return consumed, false
		}
		n := c.H.OnData(c, in[consumed:])
		if err := engine.CheckConsumed(n, len(in)-consumed); err != nil {
			c.CloseWith(err) // readHeld is true from now on
			continue
		}
		if n == 0 {
			return consumed, true
		}
		consumed += n
	}
	return consumed, false
}

// waitResumed parks the processing task while reads are paused; the
// poller leaves the fd out of epoll after at most one more read, so the
// kernel's receive buffer fills and TCP throttles the peer. It reports
// false once the connection is closing.
func (c *conn) waitResumed(nc netpoll.Connection) bool {
	c.Mu.Lock()
	if !c.paused || c.Closing {
		ok := !c.Closing
		c.Mu.Unlock()
		return ok
	}
	// The poller takes the fd out of epoll after its next read (it checks
	// the pause after every read), so nothing more than that read arrives.
	for c.paused && !c.Closing {
		c.Cond.Wait()
	}
	ok := !c.Closing
	c.Mu.Unlock()
	if ok {
		c.ri.start(nc.IsActive())
	}
	return ok
}

// onNetpollClose runs when netpoll closes its side, under netpoll's
// processing lock: after a local Close (nothing to do) or after the poller
// saw the peer's FIN, a reset or an error (read EOF for us: the write side
// is the TCPConn, which stays open).
func (c *conn) onNetpollClose(netpoll.Connection) error {
	c.ri.release()
	c.readEnded()
	return nil
}

// readEnded queues OnReadEOF once. Every byte netpoll read was delivered
// before (the processing task has ended, or it is the caller). netpoll may
// see the FIN while reads are paused (the poller still reads an fd that
// no processing task has taken out of epoll yet): the report is then held
// until ResumeRead, as the contract says.
func (c *conn) readEnded() {
	if c.Closed() || !c.eofClaimed.CompareAndSwap(false, true) {
		return
	}
	if err := c.resetError(); err != nil {
		c.CloseWith(err)
		return
	}
	c.Mu.Lock()
	if c.paused {
		c.eofHeld = true
		c.Mu.Unlock()
		return
	}
	c.Mu.Unlock()
	c.Loop.Post(c.runReadEOF)
}

func (c *conn) runReadEOF() {
	if c.OnCloseDone || c.Closed() || c.H == nil {
		return
	}
	c.Mu.Lock()
	if c.paused { // paused after the report was queued
		c.eofHeld = true
		c.Mu.Unlock()
		return
	}
	c.Mu.Unlock()
	c.H.OnReadEOF(c)
}

// tcpClose is TCP_CLOSE (include/net/tcp_states.h).
const tcpClose = 7

// resetError tells a reset from a FIN. netpoll reports both as a hang-up
// (its read error is not passed on), so ask the kernel: a socket the peer
// reset is in TCP_CLOSE, while after a FIN it is in CLOSE_WAIT (or
// TIME_WAIT, LAST_ACK, CLOSING once we shut our side too). A reset closes
// the connection with the error, as a read error does in every engine.
func (c *conn) resetError() error {
	c.Mu.Lock()
	raw, shut := c.Raw, c.ShutLocked()
	c.Mu.Unlock()
	if raw == nil || shut {
		// Once our FIN is out, the peer's FIN moves the socket to
		// TIME_WAIT, whose full socket Linux also marks TCP_CLOSE:
		// ambiguous, so it counts as EOF.
		return nil
	}
	var state uint8
	if err := raw.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = ti.State
		}
	}); err != nil || state != tcpClose {
		return nil
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}
