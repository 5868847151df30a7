// Package dpdkengine is the netmodels engine on DPDK poll-mode drivers with
// gVisor's netstack as the userspace TCP/IP stack (Ceph's DPDK stack idea).
// Connections are gVisor tcpip.Endpoints driven through waiter.Queue
// callbacks, not gonet: each connection belongs to one worker loop that
// runs all its callbacks (spec/engine.md).
//
// One process has one EAL, one DPDK port, one poller thread and one gVisor
// stack (the Runtime); every Engine built in the process shares them and
// owns only its loops, listeners and connections.
package dpdkengine

import (
	"cmp"
	"context"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// Name is the engine's short name.
const Name = "dpdk"

// LibVersion names the I/O libraries the engine is built on.
const LibVersion = "DPDK 22.11 + gVisor netstack 20260905035102"

// listenBacklog bounds gVisor's accept queue per listener.
const listenBacklog = 1024

// Engine implements engine.Engine on a Netstack.
type Engine struct {
	cfg     engine.Config
	ns      *Netstack
	workers []*worker
	rr      atomic.Uint32
	reg     loopkit.Registry[*listener, *conn]
	loops   loopkit.Group // the workers' goroutines
}

var _ engine.Engine = (*Engine)(nil)

// New builds an engine on the process's DPDK runtime, starting it (EAL,
// port, poller, stack) on first use.
func New(cfg engine.Config) (engine.Engine, error) {
	ns, err := DefaultRuntime()
	if err != nil {
		return nil, err
	}
	return NewOn(ns, cfg), nil
}

// NewOn builds an engine on an existing stack (tests use it over an
// in-memory port).
func NewOn(ns *Netstack, cfg engine.Config) *Engine {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	e := &Engine{cfg: cfg, ns: ns}
	e.reg.Init(Name)
	for range cfg.Workers {
		w := newWorker(cfg.ExecuteQueueLimit)
		e.workers = append(e.workers, w)
		e.loops.Add()
		go w.run(&e.loops)
	}
	return e
}

func (e *Engine) Name() string { return Name }

func (e *Engine) pick() *worker {
	return e.workers[int(e.rr.Add(1))%len(e.workers)]
}

// Listen binds addr on the stack; 127.0.0.1 and 0.0.0.0 mean the stack's
// own address.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	fa, err := e.ns.fullAddr(addr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	// gVisor binds a foreign address without complaint (it never
	// receives a packet for it); the kernel refuses with EADDRNOTAVAIL.
	if fa.Addr != e.ns.Addr {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(fa), Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
	}
	var wq waiter.Queue
	ep, terr := e.ns.Stack.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(fa), Err: tcpErr(terr)}
	}
	// SO_REUSEADDR, as Go sets on every kernel listener: a server
	// restarted on its port must not wait out its old connections'
	// TIME_WAIT (gVisor otherwise says "port is in use").
	ep.SocketOptions().SetReuseAddress(true)
	if terr = ep.Bind(fa); terr == nil {
		terr = ep.Listen(listenBacklog)
	}
	if terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(fa), Err: tcpErr(terr)}
	}
	bound, _ := ep.GetLocalAddress()
	bound.Addr = e.ns.Addr // fa.Addr, checked above; gVisor may report it unset
	l := &listener{e: e, ep: ep, wq: &wq, addr: tcpAddr(bound), newHandler: newHandler, w: e.pick()}
	l.we, l.Wake = waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) { l.kick() }), l.kick
	wq.EventRegister(&l.we)
	if !e.reg.AddListener(l) {
		_ = l.Close()
		return nil, e.reg.ClosedError("listen", addr)
	}
	l.kick() // connections that raced the registration
	return l, nil
}

// Dial starts a non-blocking connect (gVisor's Connect returns at once);
// the result comes on the loop as a writable or error event.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	fa, err := e.ns.fullAddr(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	w := e.pick()
	if near, ok := opts.Near.(*conn); ok && near.e == e {
		w = near.w
	}
	wq := new(waiter.Queue)
	ep, terr := e.ns.Stack.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(fa), Err: tcpErr(terr)}
	}
	c := newConn(e, w, h, ep, wq)
	if !e.reg.AddConn(c) {
		wq.EventUnregister(&c.we)
		ep.Close()
		return nil, e.reg.ClosedError("dial", addr)
	}
	c.remote.Store(tcpAddr(fa)) // the dial target until open stores the peer
	timeout := cmp.Or(max(opts.Timeout, 0), engine.DefaultDialTimeout)
	c.dialDeadline = w.timers.Add(c, loopkit.Deadline(timeout), func() {
		if c.state.Load() == stateConnecting {
			c.finish(c.opError("dial", &tcpip.ErrTimeout{}))
		}
	})
	switch terr := ep.Connect(fa); terr.(type) {
	case nil, *tcpip.ErrConnectStarted:
	default: // reported on the loop, as every dial failure (spec §7)
		_ = w.push(w.q.Post(c.callback(func() { c.finish(c.opError("dial", terr)) })))
	}
	return c, nil
}

// Shutdown closes listeners and connections (OnClose with
// ErrEngineClosed), then stops the loops. Each connection's close is
// queued on its loop before that loop's stop, so it runs first. The
// process's DPDK runtime stays up for other engines; the binary tears it
// down with Teardown at exit.
func (e *Engine) Shutdown(ctx context.Context) error {
	return e.reg.Shutdown(ctx, func(ctx context.Context) error {
		for _, w := range e.workers {
			w.stop()
		}
		return e.loops.Wait(ctx)
	})
}

// listener accepts on one gVisor endpoint; accepting runs on its worker.
type listener struct {
	e                  *Engine
	ep                 tcpip.Endpoint
	wq                 *waiter.Queue
	we                 waiter.Entry
	addr               *net.TCPAddr
	newHandler         func(engine.Conn) engine.Handler
	w                  *worker
	pending, closed    atomic.Bool
	loopkit.AcceptGate // Pause, Resume, SetBudget: Wake kicks accept
}

func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) kick() {
	if !l.closed.Load() && !l.pending.Swap(true) {
		_ = l.w.push(l.w.q.Post(l.accept))
	}
}

func (l *listener) accept() {
	l.pending.Store(false)
	for ; !l.closed.Load() && !l.Paused(); l.Took() { // paused: gVisor's backlog holds them
		nep, nwq, err := l.ep.Accept(nil)
		if err != nil {
			return // ErrWouldBlock: the next readable event kicks us
		}
		w := l.e.pick()
		c := newConn(l.e, w, nil, nep, nwq)
		c.state.Store(stateOpen)
		if !l.e.reg.AddConn(c) {
			nwq.EventUnregister(&c.we)
			nep.Close()
			return
		}
		// Shutdown may win the race to c's loop: callback skips a
		// closed c, which then never reaches a handler (spec: Shutdown).
		_ = w.push(w.q.Post(c.callback(func() {
			if c.h = l.newHandler(c); c.h == nil {
				c.h = engine.BaseHandler{}
				c.finish(nil)
				return
			}
			c.open()
		})))
	}
}

func (l *listener) Close() error {
	if !l.closed.Swap(true) {
		l.wq.EventUnregister(&l.we)
		l.ep.Close()
		l.e.reg.RemoveListener(l)
	}
	return nil
}
