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
//     not the number of loops), and the lifecycle shared with
//     impl-goroutine (Registry: listeners, accept loop, Shutdown;
//     BaseConn: socket hand-over, OnOpen, close sequence);
//   - reader.go: OnRequest feeding OnData with Peek/Skip/Release, read EOF,
//     and recovery from netpoll's false hang-ups;
//   - interest.go: PauseRead and a read-ahead bound (netpoll has
//     neither), by hooking netpoll's per-read callbacks and taking the fd
//     out of its epoll;
//   - netpollinternal.go: the one file that reaches netpoll's private
//     fields (four) and its barrier pool, with why, checked at New and by
//     TestNetpollLayout;
//   - writer.go, fdsocket.go: the bounded out-queue, written through
//     netpoll's own descriptor of the socket (netpoll's Flush blocks, and
//     undoes a pause), so the socket has one descriptor;
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
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// Engine implements engine.Engine over netpoll.
type Engine struct {
	cfg            engine.Config
	pollers        int // netpoll pollers in force when the engine started
	readAheadLimit int // most bytes netpoll may buffer unconsumed before it stops reading
	// reg holds the live listeners and connections, and counts every
	// goroutine the engine starts (serial.Registry).
	reg      serial.Registry
	announce sync.Once   // the pollers line on stderr
	released atomic.Bool // pollers released (by the first Shutdown)
	// falseHangUps counts hang-ups netpoll reported for sockets the peer
	// had not closed (reader.go, onNetpollClose).
	falseHangUps atomic.Int64
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
	if err := checkNetpoll(); err != nil {
		releasePollers()
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		pollers: n,
		// Four reads' worth: deliveries never wait for the poller, and the
		// LinkBuffer of a connection stays within a few ReadBufferSizes
		// plus one read (itself bounded by the kernel's receive buffer).
		readAheadLimit: 4 * cfg.ReadBufferSize,
	}
	e.reg.Init("netpoll", cfg)
	return e, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "netpoll" }

// Pollers is the number of netpoll pollers in force when the engine
// started (process-wide in netpoll).
func (e *Engine) Pollers() int { return e.pollers }

// Listen implements engine.Engine. The listener accepts in its own
// goroutine.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, fmt.Errorf("netpoll: listen %s: nil handler factory", addr)
	}
	if e.reg.Closed() {
		return nil, fmt.Errorf("netpoll: listen %s: %w", addr, engine.ErrEngineClosed)
	}
	l, err := e.reg.Listen(addr, func(tc *net.TCPConn) error {
		// Attaching takes one more descriptor (the quiet connection's
		// eventfd, interest.go): made here, so at the limit the socket
		// waits in the Acceptor until one frees up, rather than be opened
		// and then closed when attach fails. The eventfd is the probe
		// (serial.CheckSpareFD's dup and close cost two system calls per
		// connection for nothing else).
		efd, err := quietFD()
		if err != nil {
			return err
		}
		e.accept(tc, newHandler, efd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.announce.Do(func() { announcePollers(e.pollers, e.cfg.Workers) })
	return l, nil
}

// accept starts an accepted connection on a loop of its own. OnOpen and
// netpoll's registration are quick and never block (handlers must not):
// they run here, on the accept goroutine, rather than pay a goroutine.
// efd is the eventfd attach uses first (quietFD).
func (e *Engine) accept(tc *net.TCPConn, newHandler func(engine.Conn) engine.Handler, efd int) {
	c := newConn(e, e.reg.NewLoop())
	c.spare = efd
	if !c.Accepted(tc, newHandler) {
		c.dropSpare()
		return
	}
	c.start(tc)
}

// Dial implements engine.Engine. The connect runs in its own goroutine
// (cancelled by Close and Shutdown), which then hands the socket to netpoll.
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
	e.announce.Do(func() { announcePollers(e.pollers, e.cfg.Workers) })
	e.reg.Add()
	go c.dial(ctx, addr)
	return c, nil
}

func (c *conn) dial(ctx context.Context, addr string) {
	defer c.eng.reg.Done()
	if tc := c.DialTCP(ctx, addr); tc != nil {
		c.start(tc)
	}
}

// Shutdown implements engine.Engine (serial.Registry.Shutdown): listeners
// first so nothing new arrives, then every connection with
// ErrEngineClosed, then a wait for every goroutine the engine started
// (netpoll's pollers and task pool are process-wide and stay; the first
// Shutdown gives back this engine's claim on them).
func (e *Engine) Shutdown(ctx context.Context) error {
	release := e.released.CompareAndSwap(false, true)
	err := e.reg.Shutdown(ctx)
	if release {
		releasePollers()
	}
	return err
}
