package goroutine

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// conn is one TCP connection. Fields under mu are shared between the
// caller's goroutines (Write, Close, PauseRead...), the reader and the
// flusher; fields marked "loop" are touched only while holding the loop's
// token.
type conn struct {
	eng        *Engine
	loop       *serial.Loop
	newHandler func(engine.Conn) engine.Handler // accepted conns: called on the loop
	cancelDial context.CancelFunc               // dialed conns; set before the dial goroutine starts

	// loop
	h           engine.Handler
	onCloseDone bool

	closed atomic.Bool // mirrors closing, for lock-free checks

	mu   sync.Mutex
	cond sync.Cond // wakes a paused reader, and splice waiters for this conn's queue
	tcp  *net.TCPConn
	raw  syscall.RawConn
	// addresses are set once the socket exists
	laddr, raddr net.Addr
	ctxv         any

	closing  bool
	closeErr error

	// read side
	paused    bool
	rdone     bool       // read EOF seen (or reader gone): no splice possible
	spliceReq *spliceReq // a splice from this conn is requested or running

	// The write side (Write, Writev, OutQueued, CloseWrite; writer.go)
	// shares mu.
	serial.OutQueue
}

var (
	_ engine.Conn    = (*conn)(nil)
	_ engine.Splicer = (*conn)(nil)
)

func newConn(e *Engine, l *serial.Loop) *conn {
	c := &conn{eng: e, loop: l}
	c.cond.L = &c.mu
	c.OutQueue.Init(&c.mu, e.cfg, serial.OutConfig{
		Loop:      l,
		Group:     &e.gs,
		OnDrained: c.runOnDrained,
		Fail:      c.closeWith,
		Idle:      &c.cond, // a splice may wait for this queue to empty
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

// PauseRead takes effect at the reader's next step: a read already blocked
// in the kernel completes into the read buffer (at most ReadBufferSize
// bytes), is held there, and the reader then parks without reading more.
func (c *conn) PauseRead() {
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
}

func (c *conn) ResumeRead() {
	c.mu.Lock()
	if c.paused {
		c.paused = false
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// readHeld reports whether deliveries must stop now.
func (c *conn) readHeld() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused || c.closing || c.spliceReq != nil
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

// closeWith starts closing once: it discards the out-queue, closes the
// socket (which unblocks the reader, the flusher and any splice) and queues
// OnClose behind everything already queued on the loop.
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
	tc := c.tcp
	sp := c.spliceReq
	c.cond.Broadcast()
	c.mu.Unlock()

	if c.cancelDial != nil {
		c.cancelDial()
	}
	if tc != nil {
		_ = tc.Close()
	}
	if sp != nil {
		// The splice may be waiting for its destination to drain.
		sp.dst.mu.Lock()
		sp.dst.cond.Broadcast()
		sp.dst.mu.Unlock()
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
