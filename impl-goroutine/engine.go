// Package goroutine is the goroutine-per-connection engine: the standard
// library's net.TCPConn, one reader goroutine per connection that runs the
// handler's callbacks on its own stack (OnOpen excepted: see
// openAndRead), writes tried directly from the
// caller without blocking and finished by a short-lived flusher goroutine,
// and splice(2) relays through TCPConn.ReadFrom.
//
// A "loop" (the contract's unit of serialisation) is here a token plus an
// ordered queue of functions, not a thread: a serial.Loop
// (core/engine/serial), which also holds the timers. Reader goroutines take
// its token directly (Acquire) to run OnData on their own stack: no
// hand-off, no extra goroutine wake-up per read. Config.Workers is therefore
// ignored; every connection gets its own loop unless it was dialed Near
// another, in which case it shares that connection's loop. The lifecycle
// around the I/O (listeners and their accept loop, Shutdown, a
// connection's socket hand-over, OnOpen and close sequence) is serial's
// Registry and BaseConn, shared with impl-netpoll; this package holds the
// reader goroutine and splice.
package goroutine

import (
	"context"
	"fmt"
	"net"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// Engine implements engine.Engine over package net.
type Engine struct {
	cfg engine.Config
	// reg holds the live listeners and connections, and counts every
	// goroutine the engine starts (serial.Registry).
	reg serial.Registry
	// bufs lends the connections' read buffers, held only while they
	// hold bytes (reader.go).
	bufs *loopkit.ReadBufs
}

var _ engine.Engine = (*Engine)(nil)

// New returns a goroutine engine; cfg's zero fields take the contract's
// defaults.
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(1)
	e := &Engine{cfg: cfg, bufs: loopkit.NewReadBufs(min(initialReadBuffer, cfg.ReadBufferSize), cfg.ReadBufferSize)}
	e.reg.Init("goroutine", cfg)
	return e, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "goroutine" }

// Listen implements engine.Engine. The listener accepts in its own
// goroutine.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("goroutine: listen %s: nil handler factory", addr)
	}
	l, err := e.reg.Listen(addr, func(tc *net.TCPConn) error {
		e.accept(tc, newHandler)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// accept starts an accepted connection on a loop of its own: a
// short-lived goroutine delivers OnOpen and then starts the reader
// (openAndRead says why they are two).
func (e *Engine) accept(tc *net.TCPConn, newHandler func(engine.Conn) engine.Handler) {
	c := newConn(e, e.reg.NewLoop())
	if !c.Accepted(tc, newHandler) {
		return
	}
	c.SetSocket(tc) // closed meanwhile: Open sees it and nothing starts
	e.reg.Add()
	go c.openLoop()
}

// Dial implements engine.Engine. The connect runs in the connection's own
// goroutine, which then becomes its reader.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	lp, err := e.reg.PrepareDial(addr, h, opts.Near)
	if err != nil {
		return nil, err
	}
	c := newConn(e, lp)
	ctx, err := c.Dialing(addr, h, serial.DialTimeout(opts))
	if err != nil {
		return nil, err
	}
	e.reg.Add()
	go c.dialAndRun(ctx, addr)
	return c, nil
}

// Shutdown implements engine.Engine (serial.Registry.Shutdown): listeners
// first so nothing new arrives, then every connection with
// ErrEngineClosed, then a wait for every goroutine the engine started,
// bounded by ctx.
func (e *Engine) Shutdown(ctx context.Context) error { return e.reg.Shutdown(ctx) }
