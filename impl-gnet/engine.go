// Package gnetengine runs the engine contract on gnet v2 event loops.
//
// gnet gives a fast multi-reactor with buffers managed for us, but three
// things the contract needs are missing from its API, and this package
// closes the gaps as follows (spec/engine.md, "gnet"):
//
//   - No read pause. PauseRead removes EPOLLIN from the connection's
//     registration in the loop's own epoll set, the one reach under gnet's
//     API (gnetinternal.go, with its reason and layout checks). gnet
//     re-arms EPOLLIN when its outbound buffer drains, so at most one read
//     (ReadBufferSize) slips in per such re-arm; the engine takes it into
//     the inbound buffer, does not deliver it, and removes EPOLLIN again.
//   - No drained notification and an unbounded outbound buffer. The engine
//     keeps its own bounded out-queue (Config.OutQueueLimit) in front of
//     gnet's buffer; while a connection is above its high-water mark (or
//     owes a shutw) and gnet still holds bytes, a goroutine waits for the
//     socket to become writable in Go's netpoller (a dup from Conn.Dup)
//     and re-checks gnet's OutboundBuffered on the loop then: no polling.
//   - No half-close on the read side: gnet closes a connection when read()
//     returns 0. The engine reports OnReadEOF and then OnClose with
//     ErrNoHalfClose; what was queued is still flushed by gnet, but the
//     write side cannot be used after the peer's FIN. CloseWrite (our shutw)
//     works: shutdown(SHUT_WR) on the fd once everything queued is sent.
//
// Listeners each run their own gnet engine (gnet binds its listeners when
// an engine starts and cannot add one later); dialed connections run on a
// shared gnet client's loops, or, with DialOptions.Near, on the Near
// connection's own loop through EventLoop.Enroll.
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
)

// LibVersion names the pinned gnet release.
const LibVersion = "gnet v2.10.0"

// ErrNoHalfClose is the OnClose reason when the peer's FIN ended the
// connection: gnet cannot keep the write side open after read EOF.
var ErrNoHalfClose = errors.New("gnet: peer shut its write side and gnet closes on read EOF (no half-close)")

// Engine implements engine.Engine on gnet.
type Engine struct {
	cfg engine.Config

	mu      sync.Mutex
	closed  bool
	lns     map[*listener]struct{}
	conns   map[*conn]struct{}
	client  *gnet.Client
	clientH *eventHandler
	loops   map[gnet.EventLoop]*loop
	bg      sync.WaitGroup // dialers and waitWritable goroutines
}

var _ engine.Engine = (*Engine)(nil)

// New returns a gnet engine with cfg.Workers event loops per listener and
// for dialed connections.
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	if err := checkVersion(); err != nil {
		return nil, err
	}
	return &Engine{
		cfg:   cfg,
		lns:   make(map[*listener]struct{}),
		conns: make(map[*conn]struct{}),
		loops: make(map[gnet.EventLoop]*loop),
	}, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "gnet" }

func (e *Engine) options() []gnet.Option {
	nodelay := gnet.TCPNoDelay
	if e.cfg.DelayedAcks {
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
		l = &loop{e: e, el: el}
		l.epfd, l.epErr = epollFD(el)
		e.loops[el] = l
	}
	return l
}

func (e *Engine) register(c *conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *Engine) unregister(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
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
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = ln.stop(context.Background())
		return nil, fmt.Errorf("gnet: listen %s: %w", addr, engine.ErrEngineClosed)
	}
	e.lns[ln] = struct{}{}
	e.mu.Unlock()
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
	l.e.mu.Lock()
	delete(l.e.lns, l)
	l.e.mu.Unlock()
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
	if !e.register(c) {
		return nil, fmt.Errorf("gnet: dial %s: %w", addr, engine.ErrEngineClosed)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	var near *conn
	if n, ok := opts.Near.(*conn); ok && n.e == e {
		near = n
	}
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		c.dial(addr, timeout, near)
	}()
	return c, nil
}

// clientEngine starts the shared gnet client on first use.
func (e *Engine) clientEngine() (*gnet.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, engine.ErrEngineClosed
	}
	if e.client != nil {
		return e.client, nil
	}
	h := &eventHandler{e: e}
	cli, err := gnet.NewClient(h, e.options()...)
	if err != nil {
		return nil, err
	}
	if err := cli.Start(); err != nil {
		return nil, err
	}
	e.client, e.clientH = cli, h
	return cli, nil
}

// Shutdown implements engine.Engine.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	lns := make([]*listener, 0, len(e.lns))
	for l := range e.lns {
		lns = append(lns, l)
	}
	conns := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	cli := e.client
	e.mu.Unlock()

	for _, c := range conns {
		c.closeWith(engine.ErrEngineClosed)
	}
	var errs []error
	for _, l := range lns {
		if err := l.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if cli != nil {
		if err := cli.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { e.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// stderrLogger keeps gnet's logs off stdout (its default logger writes
// there, and stdout carries only the READY line).
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: warning: "+f+"\n", a...)
}
func (stderrLogger) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, "gnet: error: "+f+"\n", a...) }
func (stderrLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: fatal: "+f+"\n", a...)
	os.Exit(1)
}
