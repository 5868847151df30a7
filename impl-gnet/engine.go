// Package gnetengine runs the engine contract on gnet v2 event loops
// (spec/engine.md §17 says what gnet lacks and how each gap is closed).
//
// gnet owns read and the loops; the engine writes each socket
// itself (a write above high water with nothing queued goes out at once,
// the rest from a bounded loopkit.OutQueue), waiting for writability in Go's
// netpoller on a dup of the socket when it is full (gnet has no drained
// callback), so gnet's unbounded outbound buffer is never used. Execute
// and timers use loopkit's queue and heap, drained by one gnet task per
// wake-up. PauseRead needs gnet's private epoll set (gnetinternal.go).
// Half-close is unsupported: gnet closes a connection when read returns
// 0, so OnReadEOF is followed by OnClose with ErrNoHalfClose.
//
// Sockets are accepted by a serial.Acceptor (gnet's own acceptor dies on
// EMFILE) and, like dialed ones, enrolled on a shared gnet client's loops,
// or with DialOptions.Near on Near's loop (EventLoop.Enroll).
package gnetengine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// LibVersion names the pinned gnet release.
const LibVersion = "gnet " + gnetVersion

// ErrNoHalfClose is the OnClose reason when the peer's FIN ended the
// connection: gnet cannot keep the write side open after read EOF.
var ErrNoHalfClose = errors.New("gnet: peer shut its write side and gnet closes on read EOF (no half-close)")

// Engine implements engine.Engine on gnet.
type Engine struct {
	cfg engine.Config

	// reg counts the gnet.Run, dialer and waitWritable goroutines too.
	reg loopkit.Registry[*listener, *conn]

	mu     sync.Mutex // guards client
	client *gnet.Client
	loops  sync.Map // gnet.EventLoop -> *loop
}

var _ engine.Engine = (*Engine)(nil)

// New returns a gnet engine with cfg.Workers event loops per listener and
// for dialed connections.
func New(cfg engine.Config) (engine.Engine, error) {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	if err := checkVersion(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg}
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
		gnet.WithLogger(stderrLog),
	}
}

// loopOf returns the engine's state for a gnet event loop (called on that
// loop, so one loop is never made twice).
func (e *Engine) loopOf(el gnet.EventLoop) *loop {
	l, ok := e.loops.Load(el)
	if !ok {
		l, _ = e.loops.LoadOrStore(el, newLoop(e, el))
	}
	return l.(*loop)
}

// Listen implements engine.Engine. gnet's own acceptor stops the whole
// gnet engine when accept(2) fails (EMFILE: "main reactor is exiting",
// leaving a process that serves nothing), so the engine accepts with a
// serial.Acceptor, which backs off and keeps listening, and enrolls each
// socket on the shared client's loops (Client.EnrollContext).
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("gnet: listen %s: nil handler factory", addr)
	}
	cli, err := e.clientEngine()
	if err != nil {
		return nil, fmt.Errorf("gnet: listen %s: %w", addr, err)
	}
	tl, err := serial.ListenTCP(addr)
	if err != nil {
		return nil, err
	}
	ln := &listener{e: e, tl: tl, cli: cli, newHandler: newHandler}
	if !e.reg.AddListener(ln) {
		_ = tl.Close()
		return nil, e.reg.ClosedError("listen", addr)
	}
	e.reg.Add()
	go func() {
		defer e.reg.Done()
		ln.ServeTCP(tl, ln.enroll)
	}()
	return ln, nil
}

type listener struct {
	e               *Engine
	tl              *net.TCPListener
	cli             *gnet.Client
	serial.Acceptor // its Pause and Resume are engine.Listener's
	newHandler      func(engine.Conn) engine.Handler
}

func (l *listener) Addr() net.Addr { return l.tl.Addr() }

// Close stops accepting; connections already accepted stay open.
func (l *listener) Close() error {
	l.e.reg.RemoveListener(l)
	l.Stop()
	return l.tl.Close()
}

// enroll hands an accepted socket to a gnet loop, whose OnOpen makes the
// handler. gnet dups the socket and closes tc whatever happens, so a
// missing descriptor is found first (the Acceptor then holds tc and offers
// it again once one frees up).
func (l *listener) enroll(tc *net.TCPConn) error {
	if err := serial.CheckSpareFD(tc); err != nil {
		return err
	}
	if l.e.cfg.Nagle {
		_ = tc.SetNoDelay(false) // Go sets TCP_NODELAY; gnet's TCPDelay does not clear it
	}
	c := newConn(l.e, nil)
	c.accept = l.newHandler
	if !l.e.reg.AddConn(c) {
		return tc.Close()
	}
	if _, err := l.cli.EnrollContext(tc, c); err != nil {
		l.e.reg.RemoveConn(c) // no OnOpen ran: nothing to report
	}
	return nil
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
	near, _ := opts.Near.(*conn)
	if near != nil && near.e != e {
		near = nil // a Near from another engine is ignored
	}
	e.reg.Add()
	go func() {
		defer e.reg.Done()
		// Zero (or less) means the contract's default timeout.
		c.dial(addr, cmp.Or(max(opts.Timeout, 0), engine.DefaultDialTimeout), near)
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
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
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

// stderrLog keeps gnet's logs off stdout (its default logger writes there,
// and stdout carries only the READY line): warnings and worse, on stderr.
var stderrLog = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	zapcore.Lock(os.Stderr), zapcore.WarnLevel)).Sugar().Named("gnet")
