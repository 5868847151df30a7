// Package gnetengine runs the engine contract on gnet v2 event loops
// (spec/engine.md §17 says what gnet lacks and how each gap is closed).
//
// gnet owns accept, read and the loops; the engine writes each socket
// itself from a bounded loopkit.OutQueue, waiting for writability in Go's
// netpoller on a dup of the socket when it is full (gnet has no drained
// callback), so gnet's unbounded outbound buffer is never used. Execute
// and timers use loopkit's queue and heap, drained by one gnet task per
// wake-up. PauseRead needs gnet's private epoll set (gnetinternal.go).
// Half-close is unsupported: gnet closes a connection when read returns
// 0, so OnReadEOF is followed by OnClose with ErrNoHalfClose.
//
// Each listener runs its own gnet engine (gnet binds listeners only when
// an engine starts); dialed connections run on a shared gnet client's
// loops, or with DialOptions.Near on Near's loop (EventLoop.Enroll).
package gnetengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// LibVersion names the pinned gnet release.
const LibVersion = "gnet " + gnetVersion

// ErrNoHalfClose is the OnClose reason when the peer's FIN ended the
// connection: gnet cannot keep the write side open after read EOF.
var ErrNoHalfClose = errors.New("gnet: peer shut its write side and gnet closes on read EOF (no half-close)")

// Engine implements engine.Engine on gnet.
type Engine struct {
	cfg engine.Config

	// reg counts the dialers and waitWritable goroutines too.
	reg loopkit.Registry[*listener, *conn]

	mu     sync.Mutex // guards client and loops
	client *gnet.Client
	loops  map[gnet.EventLoop]*loop
}

var _ engine.Engine = (*Engine)(nil)

// New returns a gnet engine with cfg.Workers event loops per listener and
// for dialed connections.
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	if err := checkVersion(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, loops: make(map[gnet.EventLoop]*loop)}
	e.reg.Init("gnet")
	return e, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "gnet" }

func (e *Engine) options() []gnet.Option {
	nodelay := gnet.TCPNoDelay
	if e.cfg.Nagle {
		nodelay = gnet.TCPDelay
	}
	return []gnet.Option{
		gnet.WithNumEventLoop(e.cfg.Workers),
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithReadBufferCap(e.cfg.ReadBufferSize),
		gnet.WithTCPNoDelay(nodelay),
		gnet.WithLockOSThread(false),
		// As net.Listen does: a restarted server rebinds its port while old
		// connections sit in TIME_WAIT.
		gnet.WithReuseAddr(true),
		gnet.WithLogger(stderrLogger{}),
	}
}

// loopOf returns the engine's state for a gnet event loop.
func (e *Engine) loopOf(el gnet.EventLoop) *loop {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.loops[el]
	if !ok {
		l = newLoop(e, el)
		e.loops[el] = l
	}
	return l
}

// Listen implements engine.Engine: one gnet engine per listener.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("gnet: listen %s: nil handler factory", addr)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	ln := &listener{e: e, newHandler: newHandler, done: make(chan struct{})}
	h := &eventHandler{e: e, ln: ln, boot: make(chan gnet.Engine, 1)}
	runErr := make(chan error, 1)
	go func() {
		defer close(ln.done)
		runErr <- gnet.Run(h, "tcp://"+addr, e.options()...)
	}()
	select {
	case ge := <-h.boot:
		ln.geng = ge
	case err := <-runErr:
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	bound, err := boundAddr(ln.geng)
	if err != nil {
		_ = ln.stop(context.Background())
		return nil, fmt.Errorf("gnet: listen %s: %w", addr, err)
	}
	ln.addr = bound
	if !e.reg.AddListener(ln) {
		_ = ln.stop(context.Background())
		return nil, e.reg.ClosedError("listen", addr)
	}
	return ln, nil
}

// boundAddr reads the real address of a gnet engine's single listener
// (gnet binds ":0" itself and does not report the port).
func boundAddr(ge gnet.Engine) (net.Addr, error) {
	fd, err := ge.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if a := sockName(fd, nil); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("getsockname on listener fd %d failed", fd)
}

type listener struct {
	e          *Engine
	geng       gnet.Engine
	addr       net.Addr
	newHandler func(engine.Conn) engine.Handler
	done       chan struct{}
	once       sync.Once
}

func (l *listener) Addr() net.Addr { return l.addr }

// Close stops the listener's gnet engine. gnet cannot stop accepting
// without closing its loops, so connections accepted by this listener are
// closed too (spec/engine.md, "gnet").
func (l *listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.e.reg.RemoveListener(l)
	return l.stop(ctx)
}

func (l *listener) stop(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		err = l.geng.Stop(ctx)
		select {
		case <-l.done:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	})
	return err
}

// Dial implements engine.Engine. The TCP connect runs in a goroutine with
// the standard library (gnet's own Register has no timeout); the socket is
// then enrolled on a gnet loop: Near's loop when given, else the client's.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	if h == nil {
		return nil, fmt.Errorf("gnet: dial %s: nil handler", addr)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	c := newConn(e, h)
	if !e.reg.AddConn(c) {
		return nil, e.reg.ClosedError("dial", addr)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	var near *conn
	if n, ok := opts.Near.(*conn); ok && n.e == e {
		near = n
	}
	e.reg.Add()
	go func() {
		defer e.reg.Done()
		c.dial(addr, timeout, near)
	}()
	return c, nil
}

// clientEngine starts the shared gnet client on first use.
func (e *Engine) clientEngine() (*gnet.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reg.Closed() {
		return nil, engine.ErrEngineClosed
	}
	if e.client != nil {
		return e.client, nil
	}
	cli, err := gnet.NewClient(&eventHandler{e: e}, e.options()...)
	if err != nil {
		return nil, err
	}
	if err := cli.Start(); err != nil {
		return nil, err
	}
	e.client = cli
	return cli, nil
}

// Shutdown implements engine.Engine: loopkit's order (listeners, then
// connections, then the engine's goroutines), then the dialing client.
func (e *Engine) Shutdown(ctx context.Context) error {
	return e.reg.Shutdown(ctx, func(context.Context) error {
		e.mu.Lock()
		cli := e.client
		e.client = nil
		e.mu.Unlock()
		if cli != nil {
			return cli.Stop()
		}
		return nil
	})
}

// stderrLogger keeps gnet's logs off stdout (its default logger writes
// there, and stdout carries only the READY line).
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any)     {}
func (stderrLogger) Infof(string, ...any)      {}
func (stderrLogger) Warnf(f string, a ...any)  { logf("warning", f, a) }
func (stderrLogger) Errorf(f string, a ...any) { logf("error", f, a) }
func (stderrLogger) Fatalf(f string, a ...any) { logf("fatal", f, a); os.Exit(1) }

func logf(level, f string, a []any) { fmt.Fprintf(os.Stderr, "gnet: "+level+": "+f+"\n", a...) }
