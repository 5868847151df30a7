package serial

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// Registry is the lifecycle an engine over package net keeps for Shutdown:
// loopkit's Registry (the goroutines it starts, its live listeners and
// connections, the closed flag, the Shutdown order) plus what package net
// needs around it: Listen with its accept loop, Dial's checks and Near
// loops. An engine holds one and calls Init before use.
type Registry struct {
	loopkit.Registry[*Listener, *BaseConn]

	executeLimit int // Config.ExecuteQueueLimit of every loop
}

// Init names the engine (for errors) and takes the Execute queue limit of
// the loops the registry makes from cfg, which has its defaults applied.
func (r *Registry) Init(name string, cfg engine.Config) {
	r.Registry.Init(name)
	r.executeLimit = cfg.ExecuteQueueLimit
}

// NewLoop returns a new loop whose drainers are counted in the Group.
func (r *Registry) NewLoop() *Loop { return New(&r.Group, r.executeLimit) }

// PrepareDial checks Dial's arguments and returns the loop the new
// connection joins: near's when near is a connection of this engine
// (DialOptions.Near), a new one otherwise.
func (r *Registry) PrepareDial(addr string, h engine.Handler, near engine.Conn) (*Loop, error) {
	if h == nil {
		return nil, fmt.Errorf("%s: dial %s: nil handler", r.Name(), addr)
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

// register adds c to the live set, and to its loop's owners, unless the
// engine is shut down, in which case the caller must drop c.
func (r *Registry) register(c *BaseConn) bool {
	if !r.AddConn(c) {
		return false
	}
	c.Loop.Attach()
	return true
}

// Listen binds addr and accepts on a goroutine of its own (counted in the
// Group), handing every socket to accept on that goroutine, so accept
// must not block. accept owns the socket unless it returns an
// IsResourceError: then the Acceptor holds it and offers it again after a
// back-off. It fails with ErrEngineClosed once Shutdown has begun.
func (r *Registry) Listen(addr string, accept func(*net.TCPConn) error) (*Listener, error) {
	ln, err := noKeepAliveListen.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err // already a *net.OpError naming "listen" and addr
	}
	l := &Listener{r: r, ln: ln.(*net.TCPListener), accept: accept}
	if !r.AddListener(l) {
		_ = ln.Close()
		return nil, r.ClosedError("listen", addr)
	}
	r.Add()
	go l.acceptLoop()
	return l, nil
}

// noKeepAliveListen is net.Listen without the keep-alive package net puts
// on every accepted socket (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
// TCP_KEEPCNT: four setsockopt(2) per connection). HAProxy sets none by
// default (option clitcpka/srvtcpka), and neither do the engines that make
// their own sockets: in proxy-connrate the four calls on each of a
// session's two sockets were 8 of the proxy's ~30 syscalls per session.
var noKeepAliveListen = net.ListenConfig{KeepAlive: -1}

// Shutdown is engine.Engine's Shutdown: listeners first so nothing new
// arrives, then every connection with ErrEngineClosed, then a wait for
// every goroutine the engine started, bounded by ctx.
func (r *Registry) Shutdown(ctx context.Context) error { return r.Registry.Shutdown(ctx, nil) }

// Listener is an engine.Listener that accepts in its own goroutine.
type Listener struct {
	r         *Registry
	ln        *net.TCPListener
	accept    func(*net.TCPConn) error
	acc       Acceptor
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
		l.acc.Stop()
		l.r.RemoveListener(l)
	})
	return err
}

// Pause implements engine.Listener: the Acceptor stops before its next
// accept and cuts a blocked one short.
func (l *Listener) Pause() { l.acc.Pause() }

// Resume implements engine.Listener.
func (l *Listener) Resume() { l.acc.Resume() }

// SetBudget implements engine.Listener.
func (l *Listener) SetBudget(b *engine.AcceptBudget) { l.acc.SetBudget(b) }

// acceptLoop is the listener's Acceptor: out of descriptors, it backs off
// and goes on listening.
func (l *Listener) acceptLoop() {
	defer l.r.Done()
	l.acc.ServeTCP(l.ln, l.accept)
}
