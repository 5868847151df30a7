// Package goroutine is the goroutine-per-connection engine: the standard
// library's net.TCPConn, one reader goroutine per connection that runs the
// handler's callbacks on its own stack, writes tried directly from the
// caller without blocking and finished by a short-lived flusher goroutine,
// and splice(2) relays through TCPConn.ReadFrom.
//
// A "loop" (the contract's unit of serialisation) is here a token plus an
// ordered queue of functions, not a thread: a serial.Loop
// (core/engine/serial), which also holds the timers. Reader goroutines take
// its token directly (Acquire) to run OnData on their own stack: no
// hand-off, no extra goroutine wake-up per read. Config.Workers is therefore
// ignored; every connection gets its own loop unless it was dialed Near
// another, in which case it shares that connection's loop.
package goroutine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// Engine implements engine.Engine over package net.
type Engine struct {
	cfg engine.Config
	gs  serial.Group // every goroutine the engine starts

	mu     sync.Mutex
	closed bool
	lns    map[*listener]struct{}
	conns  map[*conn]struct{}
}

var _ engine.Engine = (*Engine)(nil)

// New returns a goroutine engine; cfg's zero fields take the contract's
// defaults.
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(1)
	return &Engine{
		cfg:   cfg,
		lns:   make(map[*listener]struct{}),
		conns: make(map[*conn]struct{}),
	}, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "goroutine" }

// Listen implements engine.Engine.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("goroutine: listen %s: nil handler factory", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err // already a *net.OpError naming "listen" and addr
	}
	l := &listener{e: e, ln: ln.(*net.TCPListener), newHandler: newHandler}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = ln.Close()
		return nil, fmt.Errorf("goroutine: listen %s: %w", addr, engine.ErrEngineClosed)
	}
	e.lns[l] = struct{}{}
	e.mu.Unlock()
	e.gs.Add()
	go l.acceptLoop()
	return l, nil
}

// Dial implements engine.Engine. The connect runs in the connection's own
// goroutine, which then becomes its reader.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	if h == nil {
		return nil, fmt.Errorf("goroutine: dial %s: nil handler", addr)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	var lp *serial.Loop
	if near, ok := opts.Near.(*conn); ok && near.eng == e {
		lp = near.loop
	} else {
		lp = serial.New(&e.gs, e.cfg.ExecuteQueueLimit)
	}
	c := newConn(e, lp)
	c.h = h
	ctx, cancel := context.WithCancel(context.Background())
	c.cancelDial = cancel
	if !e.register(c) {
		cancel()
		return nil, fmt.Errorf("goroutine: dial %s: %w", addr, engine.ErrEngineClosed)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	e.gs.Add()
	go c.dialAndRun(ctx, addr, timeout)
	return c, nil
}

// Shutdown implements engine.Engine: listeners first so nothing new
// arrives, then every connection with ErrEngineClosed, then a wait for
// every goroutine the engine started, bounded by ctx.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	lns := make([]*listener, 0, len(e.lns))
	for l := range e.lns {
		lns = append(lns, l)
	}
	conns := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		c.closeWith(engine.ErrEngineClosed)
	}
	if err := e.gs.Wait(ctx); err != nil {
		return fmt.Errorf("goroutine: shutdown: %w", err)
	}
	return nil
}

// register adds c to the live set unless the engine is shut down, in which
// case the caller must drop c.
func (e *Engine) register(c *conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = struct{}{}
	c.loop.Attach()
	return true
}

func (e *Engine) forget(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

// listener accepts in its own goroutine.
type listener struct {
	e          *Engine
	ln         *net.TCPListener
	newHandler func(engine.Conn) engine.Handler
	closeOnce  sync.Once
}

func (l *listener) Addr() net.Addr { return l.ln.Addr() }

func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		err = l.ln.Close()
		l.e.mu.Lock()
		delete(l.e.lns, l)
		l.e.mu.Unlock()
	})
	return err
}

func (l *listener) acceptLoop() {
	defer l.e.gs.Done()
	var backoff time.Duration
	for {
		tc, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds or a transient kernel error: back off like
			// net/http does instead of spinning, and keep listening.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			<-t.C
			continue
		}
		backoff = 0
		c := newConn(l.e, serial.New(&l.e.gs, l.e.cfg.ExecuteQueueLimit))
		c.newHandler = l.newHandler
		if !l.e.register(c) {
			_ = tc.Close()
			continue
		}
		c.setSocket(tc)
		l.e.gs.Add()
		go c.readLoop()
	}
}
