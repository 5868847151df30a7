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
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/netmodels/netmodels/core/engine"
)

// Name is the engine's short name.
const Name = "dpdk"

// listenBacklog bounds gVisor's accept queue per listener.
const listenBacklog = 1024

// Engine implements engine.Engine on a Netstack.
type Engine struct {
	cfg     engine.Config
	ns      *Netstack
	workers []*worker
	rr      atomic.Uint32

	mu        sync.Mutex
	closed    bool
	conns     map[*conn]struct{}
	listeners map[*listener]struct{}
	idle      chan struct{} // closed when conns empties after Shutdown began
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
	e := &Engine{cfg: cfg, ns: ns, conns: map[*conn]struct{}{}, listeners: map[*listener]struct{}{}}
	for range cfg.Workers {
		w := newWorker(e)
		e.workers = append(e.workers, w)
		go w.run()
	}
	return e
}

func (e *Engine) Name() string { return Name }

func (e *Engine) pick() *worker {
	return e.workers[int(e.rr.Add(1))%len(e.workers)]
}

func (e *Engine) track(c *conn) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("dpdk: %w", engine.ErrEngineClosed)
	}
	e.conns[c] = struct{}{}
	return nil
}

func (e *Engine) forget(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	if e.closed && len(e.conns) == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	e.mu.Unlock()
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
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("dpdk: listen %s: %w", addr, engine.ErrEngineClosed)
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
	if terr := ep.Bind(fa); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(fa), Err: tcpErr(terr)}
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(fa), Err: tcpErr(terr)}
	}
	bound, _ := ep.GetLocalAddress()
	if bound.Addr.BitLen() == 0 {
		bound.Addr = e.ns.Addr
	}
	l := &listener{e: e, ep: ep, wq: &wq, addr: tcpAddr(bound), newHandler: newHandler, w: e.pick()}
	l.we = waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) { l.kick() })
	wq.EventRegister(&l.we)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		l.shut()
		return nil, fmt.Errorf("dpdk: listen %s: %w", addr, engine.ErrEngineClosed)
	}
	e.listeners[l] = struct{}{}
	e.mu.Unlock()
	l.kick() // connections that raced the registration
	return l, nil
}

// Dial starts a non-blocking connect; the result comes on the loop.
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
	c.dialAddr = fa
	if err := e.track(c); err != nil {
		wq.EventUnregister(&c.we)
		ep.Close()
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	w.post(c, func() { c.startDial(timeout) })
	return c, nil
}

// Shutdown closes listeners and connections (OnClose with
// ErrEngineClosed), then stops the loops. The process's DPDK runtime stays
// up for other engines; the binary tears it down with Teardown at exit.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		e.idle = make(chan struct{})
		if len(e.conns) == 0 {
			close(e.idle)
		}
	}
	idle := e.idle
	ls := make([]*listener, 0, len(e.listeners))
	for l := range e.listeners {
		ls = append(ls, l)
	}
	cs := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	for _, c := range cs {
		c.closeWith(engine.ErrEngineClosed)
	}
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("dpdk: shutdown: %d connections still closing: %w", len(cs), ctx.Err())
		}
	}
	for _, w := range e.workers {
		w.stop()
	}
	for _, w := range e.workers {
		select {
		case <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("dpdk: shutdown: loops still running: %w", ctx.Err())
		}
	}
	return nil
}

// listener accepts on one gVisor endpoint; accepting runs on its worker.
type listener struct {
	e          *Engine
	ep         tcpip.Endpoint
	wq         *waiter.Queue
	we         waiter.Entry
	addr       *net.TCPAddr
	newHandler func(engine.Conn) engine.Handler
	w          *worker
	pending    atomic.Bool
	closed     atomic.Bool
}

func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) kick() {
	if l.closed.Load() || l.pending.Swap(true) {
		return
	}
	l.w.post(nil, l.accept)
}

func (l *listener) accept() {
	l.pending.Store(false)
	for !l.closed.Load() {
		var peer tcpip.FullAddress
		nep, nwq, err := l.ep.Accept(&peer)
		if err != nil {
			return // ErrWouldBlock: the next readable event kicks us
		}
		w := l.e.pick()
		c := newConn(l.e, w, nil, nep, nwq)
		c.state.Store(stateOpen)
		if l.e.track(c) != nil {
			nwq.EventUnregister(&c.we)
			nep.Close()
			return
		}
		w.post(c, func() {
			if c.isClosed() {
				return // Shutdown won: no callback ever (spec: Shutdown)
			}
			c.h = l.newHandler(c)
			if c.h == nil {
				c.h = engine.BaseHandler{}
				c.finish(nil)
				return
			}
			c.open()
			c.process()
		})
	}
}

func (l *listener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.shut()
	l.e.mu.Lock()
	delete(l.e.listeners, l)
	l.e.mu.Unlock()
	return nil
}

func (l *listener) shut() {
	l.closed.Store(true)
	l.wq.EventUnregister(&l.we)
	l.ep.Close()
}
