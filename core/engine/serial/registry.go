package serial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Registry is the lifecycle an engine over package net keeps for Shutdown:
// the goroutines it starts (the embedded Group), its live listeners and
// connections, and the closed flag, all under one mutex so that nothing
// registers after Shutdown took its snapshot. An engine holds one and
// calls Init before use.
type Registry struct {
	Group // every goroutine the engine starts

	name         string // the engine's name, which prefixes its errors
	executeLimit int    // Config.ExecuteQueueLimit of every loop

	mu     sync.Mutex
	closed bool
	lns    map[*Listener]struct{}
	conns  map[*BaseConn]struct{}
}

// Init names the engine (for errors) and takes the Execute queue limit of
// the loops the registry makes from cfg, which has its defaults applied.
func (r *Registry) Init(name string, cfg engine.Config) {
	r.name, r.executeLimit = name, cfg.ExecuteQueueLimit
	r.lns = make(map[*Listener]struct{})
	r.conns = make(map[*BaseConn]struct{})
}

// Closed reports whether Shutdown has begun.
func (r *Registry) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// NewLoop returns a new loop whose drainers are counted in the Group.
func (r *Registry) NewLoop() *Loop { return New(&r.Group, r.executeLimit) }

// PrepareDial checks Dial's arguments and returns the loop the new
// connection joins: near's when near is a connection of this engine
// (DialOptions.Near), a new one otherwise.
func (r *Registry) PrepareDial(addr string, h engine.Handler, near engine.Conn) (*Loop, error) {
	if h == nil {
		return nil, fmt.Errorf("%s: dial %s: nil handler", r.name, addr)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	if n, ok := near.(interface{ base() *BaseConn }); ok && n.base().reg == r {
		return n.base().Loop, nil
	}
	return r.NewLoop(), nil
}

// DialTimeout is opts' connect timeout, or the contract's default.
func DialTimeout(opts engine.DialOptions) time.Duration {
	if opts.Timeout <= 0 {
		return engine.DefaultDialTimeout
	}
	return opts.Timeout
}

// register adds c to the live set unless the engine is shut down, in which
// case the caller must drop c.
func (r *Registry) register(c *BaseConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	c.Loop.Attach()
	return true
}

func (r *Registry) forget(c *BaseConn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// Listen binds addr and accepts on a goroutine of its own (counted in the
// Group), handing every socket to accept on that goroutine, so accept
// must not block. It fails with ErrEngineClosed once Shutdown has begun.
func (r *Registry) Listen(addr string, accept func(*net.TCPConn)) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err // already a *net.OpError naming "listen" and addr
	}
	l := &Listener{r: r, ln: ln.(*net.TCPListener), accept: accept}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = ln.Close()
		return nil, fmt.Errorf("%s: listen %s: %w", r.name, addr, engine.ErrEngineClosed)
	}
	r.lns[l] = struct{}{}
	r.mu.Unlock()
	r.Add()
	go l.acceptLoop()
	return l, nil
}

// Shutdown is engine.Engine's Shutdown: listeners first so nothing new
// arrives, then every connection with ErrEngineClosed, then a wait for
// every goroutine the engine started, bounded by ctx.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	lns := make([]*Listener, 0, len(r.lns))
	for l := range r.lns {
		lns = append(lns, l)
	}
	conns := make([]*BaseConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		c.CloseWith(engine.ErrEngineClosed)
	}
	if err := r.Wait(ctx); err != nil {
		return fmt.Errorf("%s: shutdown: %w", r.name, err)
	}
	return nil
}

// Listener is an engine.Listener that accepts in its own goroutine.
type Listener struct {
	r         *Registry
	ln        *net.TCPListener
	accept    func(*net.TCPConn)
	closeOnce sync.Once
}

var _ engine.Listener = (*Listener)(nil)

// Addr implements engine.Listener.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close implements engine.Listener: connections already accepted stay
// open.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		err = l.ln.Close()
		l.r.mu.Lock()
		delete(l.r.lns, l)
		l.r.mu.Unlock()
	})
	return err
}

func (l *Listener) acceptLoop() {
	defer l.r.Done()
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
		l.accept(tc)
	}
}
