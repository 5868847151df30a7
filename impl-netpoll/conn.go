package netpollengine

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// conn is one TCP connection, held twice: netpoll reads a dup of the
// socket (nc, its poller and LinkBuffer), and the engine writes through
// the *net.TCPConn it was accepted or dialed as (tcp; see writer.go). The
// socket closes when both are closed.
//
// Fields under mu are shared between callers (Write, Close, PauseRead...),
// netpoll's processing task and the flusher; fields marked "loop" are
// touched only while holding the loop's token; ri only on netpoll's
// processing task or in netpoll's close callback, which netpoll runs under
// the same processing lock.
type conn struct {
	eng        *Engine
	loop       *serial.Loop
	newHandler func(engine.Conn) engine.Handler // accepted conns: called on the loop
	cancelDial context.CancelFunc               // dialed conns; set before the dial goroutine starts

	// loop
	h           engine.Handler
	onCloseDone bool

	closed     atomic.Bool // mirrors closing, for lock-free checks
	eofClaimed atomic.Bool // OnReadEOF is due (or done); set once
	pausedFlag atomic.Bool // mirrors paused for the poller (interest.go)
	ri         readInterest

	mu   sync.Mutex
	cond sync.Cond // wakes a processing task parked by PauseRead
	tcp  *net.TCPConn
	raw  syscall.RawConn
	nc   netpoll.Connection
	// addresses are set once the socket exists
	laddr, raddr net.Addr
	ctxv         any

	closing  bool
	closeErr error
	paused   bool
	// attachDeferred: paused before netpoll got the socket; ResumeRead
	// attaches it (reader.go).
	attachDeferred bool
	eofHeld        bool // read EOF seen while paused; ResumeRead reports it

	// The write side (Write, Writev, OutQueued, CloseWrite; writer.go)
	// shares mu.
	serial.OutQueue
}

var _ engine.Conn = (*conn)(nil)

func newConn(e *Engine, l *serial.Loop) *conn {
	c := &conn{eng: e, loop: l}
	c.cond.L = &c.mu
	c.OutQueue.Init(&c.mu, e.cfg, serial.OutConfig{
		Loop:      l,
		Group:     &e.gs,
		OnDrained: c.runOnDrained,
		Fail:      c.closeWith,
	})
	return c
}

// Closed makes conn the serial.Owner of its timers.
func (c *conn) Closed() bool { return c.closed.Load() }

// LocalAddr is nil until a dialed connection is established.
func (c *conn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.laddr
}

// RemoteAddr is nil until a dialed connection is established.
func (c *conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raddr
}

func (c *conn) SetContext(v any) {
	c.mu.Lock()
	c.ctxv = v
	c.mu.Unlock()
}

func (c *conn) Context() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctxv
}

// PauseRead stops deliveries at once. Called from OnOpen, netpoll does not
// get the socket until ResumeRead. Later, the poller stops reading at the
// processing task's next step (see reader.go): what the poller read while
// the current callback ran (at most readAheadLimit plus one read) stays
// buffered, then the fd leaves epoll and TCP pushes back on the peer.
func (c *conn) PauseRead() {
	c.mu.Lock()
	c.paused = true
	c.pausedFlag.Store(true)
	c.mu.Unlock()
}

func (c *conn) ResumeRead() {
	c.mu.Lock()
	if c.paused {
		c.paused = false
		c.pausedFlag.Store(false)
		c.cond.Broadcast()
	}
	deferred := c.attachDeferred && !c.closing
	c.attachDeferred = false
	eof := c.eofHeld && !c.closing
	c.eofHeld = false
	c.mu.Unlock()
	if eof {
		c.loop.Post(c.runReadEOF)
	}
	if deferred {
		// dup, NewFDConnection and epoll_ctl: quick, never blocking.
		c.attach()
	}
}

// readHeld reports whether deliveries must stop now.
func (c *conn) readHeld() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused || c.closing
}

// Execute queues fn on the loop. A function accepted while the connection
// is being closed concurrently may be dropped, but never runs after OnClose.
func (c *conn) Execute(fn func()) error {
	if c.Closed() {
		return engine.ErrClosed
	}
	return c.loop.Execute(func() {
		if !c.onCloseDone {
			fn()
		}
	})
}

// AfterFunc runs fn on the loop through its timer heap (serial.Loop): a
// closed connection's timers never run.
func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	return c.loop.AfterFunc(c, d, fn)
}

func (c *conn) Close() error {
	c.closeWith(nil)
	return nil
}

// closeWith starts closing once: it discards the out-queue, closes
// netpoll's side (which wakes a processing task waiting for bytes) and the
// TCPConn (which wakes the flusher), wakes a task parked by PauseRead, and
// queues OnClose behind everything already queued on the loop.
func (c *conn) closeWith(err error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.closed.Store(true)
	c.closeErr = err
	c.DiscardLocked()
	tc, nc := c.tcp, c.nc
	c.cond.Broadcast()
	c.mu.Unlock()

	if c.cancelDial != nil {
		c.cancelDial()
	}
	if nc != nil {
		// netpoll closes its fd now, or when the processing task returns.
		_ = nc.Close()
	}
	if tc != nil {
		_ = tc.Close()
	}
	c.eng.forget(c)
	c.loop.Post(c.runOnClose)
}

// runOnClose is the last callback. An accepted connection closed before
// its handler existed (Shutdown racing accept) has nobody to tell.
func (c *conn) runOnClose() {
	c.onCloseDone = true
	c.loop.Detach(c)
	if c.h != nil {
		c.mu.Lock()
		err := c.closeErr
		c.mu.Unlock()
		c.h.OnClose(c, err)
	}
}
