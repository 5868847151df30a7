package serial

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/sockaddr"
)

// BaseConn is the part of a connection that engines over package net
// share, embedded in the engine's connection type: the loop and handler,
// the socket once it exists, the close sequence, Execute, AfterFunc,
// contexts and addresses, and the write side (the embedded OutQueue). The
// engine keeps only its read side (and whatever its I/O library needs)
// and its part of closing (ConnConfig.CloseLocked).
//
// Fields under Mu are shared between callers (Write, Close, PauseRead...),
// the engine's readers and the flusher; the engine's own read-side state
// may share Mu too. Fields marked "loop" are touched only while holding
// the loop's token.
type BaseConn struct {
	self        engine.Conn // the engine's connection, as handlers see it
	reg         *Registry
	closeLocked func() (after func())

	Loop       *Loop
	NewHandler func(engine.Conn) engine.Handler // accepted conns: called on the loop
	// CancelDial cancels a dialed conn's connect. Set before the dial
	// goroutine starts; under Mu afterwards (the dial drops it once it
	// is over, so an established connection does not keep the dial's
	// context alive: a cancelCtx, its done channel and children map).
	CancelDial context.CancelFunc

	// loop
	H engine.Handler

	// The flags sit together so that they share one word: a proxy
	// session holds two connections, and the goroutine and netpoll
	// engines' conns just fit the runtime's 480-byte size class
	// (TestBaseConnSize).
	OnCloseDone bool        // loop
	nagle       bool        // set once by Init
	Closing     bool        // under Mu
	closed      atomic.Bool // mirrors Closing, for lock-free checks

	Mu   sync.Mutex
	Cond sync.Cond // on Mu: wakes whatever the engine parks on this conn
	TCP  *net.TCPConn
	Raw  syscall.RawConn
	// addresses are set once the socket exists
	laddr, raddr net.Addr

	closeErr error // under Mu

	// The write side (Write, Writev, OutQueued, CloseWrite) shares Mu.
	OutQueue
}

// ConnConfig is what a BaseConn needs from its engine.
type ConnConfig struct {
	Self     engine.Conn // the connection that embeds the BaseConn
	Registry *Registry
	Loop     *Loop
	Config   engine.Config // Nagle and the out-queue limits
	// CloseLocked is the engine's part of closing. It runs once, under
	// Mu, as closing starts (the out-queue is already discarded): it takes
	// what must be closed or woken (the engine's sockets, other waiters)
	// and returns that work, which runs once Mu is released.
	CloseLocked func() (after func())
	// IdleWakesCond broadcasts Cond whenever the flusher stops, for an
	// engine that waits on Cond to claim the write side (a splice).
	IdleWakesCond bool
}

// Init prepares c for use; call it once, before c is shared.
func (c *BaseConn) Init(cfg ConnConfig) {
	c.self, c.reg, c.Loop = cfg.Self, cfg.Registry, cfg.Loop
	c.nagle = cfg.Config.Nagle
	c.closeLocked = cfg.CloseLocked
	c.Cond.L = &c.Mu
	out := OutConfig{
		Loop:      cfg.Loop,
		Group:     &cfg.Registry.Group,
		OnDrained: c.runOnDrained,
		Fail:      c.CloseWith,
	}
	if cfg.IdleWakesCond {
		out.Idle = &c.Cond
	}
	c.OutQueue.Init(&c.Mu, cfg.Config, out)
}

// base lets Registry.PrepareDial find the BaseConn of a DialOptions.Near
// connection of the same engine.
func (c *BaseConn) base() *BaseConn { return c }

// Closed makes the connection the Owner of its timers.
func (c *BaseConn) Closed() bool { return c.closed.Load() }

// LocalAddr is nil until a dialed connection is established.
func (c *BaseConn) LocalAddr() net.Addr {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.laddr
}

// RemoteAddr is nil until a dialed connection is established.
func (c *BaseConn) RemoteAddr() net.Addr {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.raddr
}

// Execute queues fn on the loop. A function accepted while the connection
// is being closed concurrently may be dropped, but never runs after OnClose.
func (c *BaseConn) Execute(fn func()) error {
	if c.Closed() {
		return engine.ErrClosed
	}
	return c.Loop.Execute(func() {
		if !c.OnCloseDone {
			fn()
		}
	})
}

// AfterFunc runs fn on the loop through its timer heap: a closed
// connection's timers never run.
func (c *BaseConn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	return c.Loop.AfterFunc(c, d, fn)
}

// Close implements engine.Conn.
func (c *BaseConn) Close() error {
	c.CloseWith(nil)
	return nil
}

// Abort implements engine.Aborter: SO_LINGER 0 on the socket, then
// Close, so the kernel resets the connection instead of sending FIN.
func (c *BaseConn) Abort() error {
	c.Mu.Lock()
	if !c.Closing {
		if l, ok := c.OutQueue.sock.(interface{ Linger0() error }); ok {
			_ = l.Linger0()
		}
	}
	c.Mu.Unlock()
	return c.Close()
}

// SwapSocketLocked gives the write side another socket, s, for the same
// connection (another descriptor of it), if the write side is free
// (nothing queued, no flusher, no claim) and the connection is not
// closing. It returns the *net.TCPConn it held, for the caller to close;
// TCP and Raw are nil from then on.
func (c *BaseConn) SwapSocketLocked(s Socket) (old *net.TCPConn, ok bool) {
	if c.Closing || !c.OutQueue.FreeLocked() {
		return nil, false
	}
	old = c.TCP
	c.TCP, c.Raw = nil, nil
	c.OutQueue.sock = s
	return old, true
}

// Accepted registers a connection the listener accepted, whose handler
// newHandler makes on the loop. It reports false (and closes tc) when the
// engine is shut down.
func (c *BaseConn) Accepted(tc *net.TCPConn, newHandler func(engine.Conn) engine.Handler) bool {
	c.NewHandler = newHandler
	if !c.reg.register(c) {
		_ = tc.Close()
		return false
	}
	return true
}

// Dialing registers a dialed connection with its handler h. The context
// it returns expires after timeout (DialTimeout) and is cancelled by Close
// and Shutdown; the dial goroutine connects with it (DialTCP). One context
// for both: a cancellable parent with a deadline child (net.Dialer's
// Timeout) made 460 more bytes of garbage per dial (a Go benchmark: 2069
// -> 1607 B/op), which a proxy pays per session (issue 17, proxy-idle).
func (c *BaseConn) Dialing(addr string, h engine.Handler, timeout time.Duration) (context.Context, error) {
	c.H = h
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c.CancelDial = cancel
	if !c.reg.register(c) {
		cancel()
		return nil, c.reg.ClosedError("dial", addr)
	}
	return ctx, nil
}

// DialTCP connects a dialed connection, on its dial goroutine, with the
// context Dialing returned. It returns nil when the connection failed,
// and closes it with the error.
func (c *BaseConn) DialTCP(ctx context.Context, addr string) *net.TCPConn {
	tc, err := sockaddr.DialTCP(ctx, addr, 0) // ctx has the deadline; no keep-alive: see noKeepAliveListen
	c.Mu.Lock()
	cancel := c.CancelDial
	c.CancelDial = nil
	c.Mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if err != nil {
		// A *net.OpError with Op "dial". If Close or Shutdown cancelled
		// the dial, closing already holds the real reason.
		c.CloseWith(err)
		return nil
	}
	return tc
}

// SetSocket attaches an established socket and starts writing what was
// queued while dialing. It reports false (and closes the socket) when the
// connection was closed meanwhile.
func (c *BaseConn) SetSocket(tc *net.TCPConn) bool {
	if c.nagle {
		_ = tc.SetNoDelay(false) // Go sets TCP_NODELAY by default
	}
	raw, err := tc.SyscallConn()
	c.Mu.Lock()
	if c.Closing || err != nil {
		c.Mu.Unlock()
		_ = tc.Close()
		if err != nil {
			c.CloseWith(err)
		}
		return false
	}
	c.TCP, c.Raw = tc, raw
	c.laddr, c.raddr = tc.LocalAddr(), tc.RemoteAddr()
	c.ConnectLocked(NewTCPSocket(tc, raw)) // and write what queued while dialing
	c.Cond.Broadcast()
	c.Mu.Unlock()
	return true
}

// Open delivers OnOpen on the loop, first making an accepted connection's
// handler. It reports false when the connection is closed, or was refused
// by the handler factory (then closed without any callback).
func (c *BaseConn) Open() bool {
	c.Loop.Acquire()
	if c.Closed() {
		c.Loop.Release()
		return false
	}
	if c.H == nil {
		c.H = c.NewHandler(c.self)
		if c.H == nil {
			// The listener's owner refused the connection: close it
			// without callbacks (runOnClose skips a nil handler).
			c.Loop.Release()
			c.CloseWith(nil)
			return false
		}
	}
	c.H.OnOpen(c.self)
	c.Loop.Release()
	return true
}

// CloseWith starts closing once: it discards the out-queue, lets the
// engine close its sockets (which unblocks its readers, the flusher and
// any splice), cancels a dial, leaves the registry and queues OnClose
// behind everything already queued on the loop.
func (c *BaseConn) CloseWith(err error) {
	c.Mu.Lock()
	if c.Closing {
		c.Mu.Unlock()
		return
	}
	c.Closing = true
	c.closed.Store(true)
	c.closeErr = err
	c.DiscardLocked()
	after := c.closeLocked()
	c.Cond.Broadcast()
	cancel := c.CancelDial
	c.Mu.Unlock()

	if cancel != nil {
		cancel()
	}
	after()
	c.reg.RemoveConn(c)
	c.Loop.Post(c.runOnClose)
}

// runOnClose is the last callback. An accepted connection closed before
// its handler existed (Shutdown racing accept) has nobody to tell.
func (c *BaseConn) runOnClose() {
	c.OnCloseDone = true
	c.Loop.Detach(c)
	if c.H != nil {
		c.Mu.Lock()
		err := c.closeErr
		c.Mu.Unlock()
		c.H.OnClose(c.self, err)
	}
}

// runOnDrained delivers OnDrained unless it went stale (DrainDue).
func (c *BaseConn) runOnDrained() {
	if c.OnCloseDone || c.H == nil || !c.DrainDue() {
		return
	}
	c.H.OnDrained(c.self)
}
