// Package netpollengine is the engine contract on cloudwego/netpoll
// (pinned at v0.7.2): netpoll's pollers read every connection into its
// nocopy LinkBuffer and run the handler's reads on netpoll's processing
// tasks (OnRequest); the rest of the contract is built around what netpoll
// lacks, each piece in its own file:
//
//   - pollers.go: the poller count, set from Config.Workers
//     (netpoll.SetNumLoops) instead of netpoll's GOMAXPROCS/20+1 default;
//   - core/engine/serial: the serialisation domain, Execute and timers
//     (netpoll runs OnRequest on pooled goroutines, not on its pollers, so
//     a loop is a token plus an ordered queue that the processing task
//     takes directly to run OnData; Config.Workers sets the poller count,
//     not the number of loops);
//   - reader.go: OnRequest feeding OnData with Peek/Skip/Release, read EOF;
//   - interest.go: PauseRead and a read-ahead bound (netpoll has
//     neither), by hooking netpoll's per-read callbacks and taking the fd
//     out of its epoll;
//   - writer.go: the bounded out-queue, written through the socket's
//     *net.TCPConn (netpoll's Flush blocks, and undoes a pause);
//
// Sockets are accepted and dialed with package net and handed to netpoll
// with netpoll.NewFDConnection (what netpoll's own server does for each
// accepted fd): netpoll's EventLoop closes a listener's idle connections
// when it stops and never returns from Serve when only its listener is
// closed, so "Listener.Close leaves accepted connections open" cannot be
// built on it; and netpoll's Dialer cannot be cancelled by Close or
// Shutdown. spec/engine.md, section "netpoll", lists what differs.
package netpollengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// Engine implements engine.Engine over netpoll.
type Engine struct {
	cfg            engine.Config
	pollers        int // netpoll pollers in force when the engine started
	readAheadLimit int // most bytes netpoll may buffer unconsumed before it stops reading
	gs             serial.Group
	announce       sync.Once // the pollers line on stderr

	mu       sync.Mutex
	closed   bool
	released bool // pollers released
	lns      map[*listener]struct{}
	conns    map[*conn]struct{}
}

var _ engine.Engine = (*Engine)(nil)

// New returns a netpoll engine; cfg's zero fields take the contract's
// defaults, Workers included (the number of CPUs).
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	n, err := acquirePollers(cfg.Workers)
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg:     cfg,
		pollers: n,
		// Four reads' worth: deliveries never wait for the poller, and the
		// LinkBuffer of a connection stays within a few ReadBufferSizes
		// plus one read (itself bounded by the kernel's receive buffer).
		readAheadLimit: 4 * cfg.ReadBufferSize,
		lns:            make(map[*listener]struct{}),
		conns:          make(map[*conn]struct{}),
	}, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "netpoll" }

// Pollers is the number of netpoll pollers in force when the engine
// started (process-wide in netpoll).
func (e *Engine) Pollers() int { return e.pollers }

// Listen implements engine.Engine.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("netpoll: listen %s: nil handler factory", addr)
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("netpoll: listen %s: %w", addr, engine.ErrEngineClosed)
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
		return nil, fmt.Errorf("netpoll: listen %s: %w", addr, engine.ErrEngineClosed)
	}
	e.lns[l] = struct{}{}
	e.mu.Unlock()
	e.announce.Do(func() { announcePollers(e.pollers, e.cfg.Workers) })
	e.gs.Add()
	go l.acceptLoop()
	return l, nil
}

// Dial implements engine.Engine. The connect runs in its own goroutine
// (cancelled by Close and Shutdown), which then hands the socket to netpoll.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	if h == nil {
		return nil, fmt.Errorf("netpoll: dial %s: nil handler", addr)
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
		return nil, fmt.Errorf("netpoll: dial %s: %w", addr, engine.ErrEngineClosed)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	e.announce.Do(func() { announcePollers(e.pollers, e.cfg.Workers) })
	e.gs.Add()
	go c.dial(ctx, addr, timeout)
	return c, nil
}

func (c *conn) dial(ctx context.Context, addr string, timeout time.Duration) {
	defer c.eng.gs.Done()
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	c.cancelDial()
	if err != nil {
		// A *net.OpError with Op "dial". If Close or Shutdown cancelled
		// the dial, closing already holds the real reason.
		c.closeWith(err)
		return
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		_ = nc.Close()
		c.closeWith(&net.OpError{Op: "dial", Net: "tcp", Err: errNotTCP})
		return
	}
	c.start(tc)
}

// Shutdown implements engine.Engine: listeners first so nothing new
// arrives, then every connection with ErrEngineClosed, then a wait for
// every goroutine the engine started (netpoll's pollers and task pool are
// process-wide and stay).
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
	release := !e.released
	e.released = true
	e.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		c.closeWith(engine.ErrEngineClosed)
	}
	err := e.gs.Wait(ctx)
	if release {
		releasePollers()
	}
	if err != nil {
		return fmt.Errorf("netpoll: shutdown: %w", err)
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
		// OnOpen and netpoll's registration are quick and never block
		// (handlers must not): run them here rather than pay a goroutine.
		c.start(tc)
	}
}
