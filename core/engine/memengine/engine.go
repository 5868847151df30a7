package memengine

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// DefaultPipeBufferSize is the socket buffer of one connection direction
// when Options.PipeBufferSize is zero.
const DefaultPipeBufferSize = 64 << 10

// Options configure an in-memory Engine.
type Options struct {
	// Config is the common engine configuration. Workers is accepted and
	// ignored: one loop runs every connection of the engine.
	Config engine.Config
	// Clock drives AfterFunc and dial timeouts. Nil means RealClock(). A
	// *FakeClock makes time move only on Advance, and the loop run only
	// inside Settle, Advance and Shutdown (see the package comment).
	Clock Clock
	// PipeBufferSize is how many bytes one direction of a connection holds
	// in flight (the sender's and receiver's kernel buffers together) before
	// the writer's out-queue starts to back up. Zero means
	// DefaultPipeBufferSize. Small values make backpressure tests exact.
	PipeBufferSize int
	// Fault, if set, may break connections after a number of bytes.
	Fault FaultHook
	// Network is the virtual address space to join; nil means a private
	// one. Engines on one Network can dial each other.
	Network *Network
}

// Engine is an engine.Engine whose connections are in-memory pipes between
// virtual addresses. It opens no sockets. See the package comment.
type Engine struct {
	cfg   engine.Config
	clock Clock
	pipe  int
	fault FaultHook

	detach func() // from a FakeClock
	done   chan struct{}
	// manual: with a FakeClock the loop runs only while someone is in
	// Settle (or Advance, or Shutdown), so calls made between two Settles
	// are all queued before any of them is acted on.
	manual bool

	net      *Network
	mu       *sync.Mutex // the network's lock
	wake     *sync.Cond  // the loop waits on it for work
	idle     *sync.Cond  // Settle waits on it for the loop to go idle
	closed   bool        // Shutdown called: no Listen, Dial or new work
	busy     bool        // the loop is running a task
	settling int         // Settle calls waiting (they release a manual loop)
	stopped  bool        // the loop has exited
	runq     []task
	runqHead int
	// conns and execPending are not loopkit's Registry and ExecQueue:
	// Shutdown closes in creation order and Execute functions run at a
	// fixed step of their connection's turn, for reproducible logs (see
	// "Shared machinery" in the package doc).
	conns       map[*conn]struct{}
	nextConn    uint64
	execPending int      // Execute functions queued, all connections together
	iov         [][]byte // flush's scratch for out-queue slices

	epoch     time.Time      // the clock when the engine started: timer deadlines count from it
	timers    loopkit.Timers // every AfterFunc and dial timeout (timer.go)
	armGen    uint64
	armStop   func() bool
	armedWhen int64
}

var _ engine.Engine = (*Engine)(nil)

// task is one unit of loop work: service a connection or fire a timer.
type task struct {
	c *conn
	t *loopkit.Timer
}

// New returns a started Engine. It never fails: every Options field has a
// usable zero value.
func New(opts Options) *Engine {
	e := &Engine{
		cfg:   opts.Config.WithDefaults(runtime.NumCPU()),
		clock: opts.Clock,
		pipe:  opts.PipeBufferSize,
		fault: opts.Fault,
		done:  make(chan struct{}),
		net:   opts.Network,
		conns: make(map[*conn]struct{}),
	}
	if e.net == nil {
		e.net = NewNetwork()
	}
	e.mu = &e.net.mu
	if e.clock == nil {
		e.clock = RealClock()
	}
	if e.pipe <= 0 {
		e.pipe = DefaultPipeBufferSize
	}
	e.epoch = e.clock.Now()
	e.timers.Init(nil) // arm needs the lock the caller holds: called by hand
	e.wake = sync.NewCond(e.mu)
	e.idle = sync.NewCond(e.mu)
	if fc, ok := e.clock.(*FakeClock); ok {
		e.manual = true
		e.detach = fc.attach(e.Settle)
	}
	e.mu.Lock()
	e.net.engines = append(e.net.engines, e)
	e.mu.Unlock()
	go e.loop()
	return e
}

// NewEngine is New with the real clock and default Options, in the
// constructor form every engine shares (used by the engine test kit). All
// its engines join one process-wide Network, so they can dial each other.
func NewEngine(cfg engine.Config) (engine.Engine, error) {
	return New(Options{Config: cfg, Network: processNetwork}), nil
}

// Network is the virtual network the engine belongs to.
func (e *Engine) Network() *Network { return e.net }

// NumConns is the number of the engine's connections whose OnClose has not
// yet run (dialing, open or closing): zero after a clean test.
func (e *Engine) NumConns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// Name is "mem".
func (e *Engine) Name() string { return "mem" }

// Config is the engine's configuration with defaults applied.
func (e *Engine) Config() engine.Config { return e.cfg }

// Clock is the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Settle runs the engine, and every other engine of its Network, until none
// has anything left to do now: no connection has pending deliveries,
// flushes, opens, closes or Execute functions, and no due timer is waiting
// to run. Timers due later (on a FakeClock: after the next Advance) do not
// count. A handler that keeps itself busy forever (an Execute function
// that always re-submits itself) never lets Settle return.
//
// With a FakeClock the loop runs only inside Settle (and Advance, which
// settles, and Shutdown): calls made between two Settles are queued in call
// order and acted on together, so the same calls always produce the same
// callbacks in the same order, however the goroutines are scheduled. With
// the real clock the loop runs on its own and Settle merely waits for it.
//
// Settle must not be called from a callback: it would wait for itself.
func (e *Engine) Settle() { e.net.Settle() }

// settleLocked runs e's loop until it is idle and reports whether it had
// anything to do. The network lock is held.
func (e *Engine) settleLocked() bool {
	if !e.busy && e.runqHead == len(e.runq) {
		return false
	}
	e.settling++
	e.wake.Signal()
	for !e.stopped && (e.busy || e.runqHead < len(e.runq)) {
		e.idle.Wait()
	}
	e.settling--
	return true
}

// Listen binds a virtual address. Port 0 takes a free virtual port; a
// wildcard host (0.0.0.0, ::, empty) accepts dials to any address of its
// family on that port. Binding a taken address fails with EADDRINUSE.
func (e *Engine) Listen(addr string, newHandler func(engine.Conn) engine.Handler) (engine.Listener, error) {
	if newHandler == nil {
		return nil, errors.New("memengine: listen: nil newHandler")
	}
	ap, err := parseAddr(addr, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, engine.ErrEngineClosed
	}
	if ap.Port() == 0 {
		p, ok := e.net.freeListenPort()
		if !ok {
			return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(ap), Err: errAddrInUse}
		}
		ap = netip.AddrPortFrom(ap.Addr(), p)
	} else if e.net.portTaken(ap) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(ap), Err: errAddrInUse}
	}
	l := &listener{e: e, ap: ap, addr: tcpAddr(ap), newHandler: newHandler}
	e.net.listeners[ap] = l
	return l, nil
}

// Blackhole is Network().Blackhole.
func (e *Engine) Blackhole(addr string) error { return e.net.Blackhole(addr) }

// Dial starts a connection to a virtual address; see engine.Engine. The
// outcome is decided on the loop: OnOpen if a listener is bound there when
// the loop gets to it, otherwise OnClose with a *net.OpError{Op: "dial"}
// wrapping ECONNREFUSED.
func (e *Engine) Dial(addr string, h engine.Handler, opts engine.DialOptions) (engine.Conn, error) {
	if h == nil {
		return nil, errors.New("memengine: dial: nil handler")
	}
	ap, err := parseAddr(addr, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultDialTimeout
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, engine.ErrEngineClosed
	}
	c := e.newConn(h, nil)
	c.state = stateDialing
	c.dialTimeout = timeout
	c.remoteAP = ap
	c.remoteAddr = tcpAddr(ap)
	c.localAddr = tcpAddr(netip.AddrPortFrom(localIPFor(ap), e.net.nextEphemeralPort()))
	e.schedule(c)
	return c, nil
}

func (e *Engine) newConn(h engine.Handler, newHandler func(engine.Conn) engine.Handler) *conn {
	c := &conn{e: e, id: e.nextConn, h: h, newHandler: newHandler}
	c.out.Init(e.cfg)
	e.nextConn++
	e.conns[c] = struct{}{}
	return c
}

// InjectReset breaks c's connection now, as a TCP reset would: c gets
// OnClose with a read error wrapping ECONNRESET, and so does its peer once it
// has read what was already in flight to it. Unsent bytes are lost. c may
// belong to any engine of e's Network; other values are ignored.
func (e *Engine) InjectReset(c engine.Conn) {
	mc, ok := c.(*conn)
	if !ok || mc.e.net != e.net {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if mc.closing || mc.state == stateClosed {
		return
	}
	p := mc.peer
	e.startClose(mc, resetError("read", mc), false)
	if p != nil && !p.closing && p.state != stateClosed {
		p.resetErr = resetError("read", p)
		e.schedule(p)
	}
}

// Shutdown stops accepting, closes every listener and connection (OnClose
// with engine.ErrEngineClosed, in connection creation order) and waits for
// the loop to finish, or for ctx. It must not be called from a callback.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for ap, l := range e.net.listeners {
			if l.e == e {
				delete(e.net.listeners, ap)
			}
		}
		cs := make([]*conn, 0, len(e.conns))
		for c := range e.conns {
			cs = append(cs, c)
		}
		slices.SortFunc(cs, func(a, b *conn) int { return cmp.Compare(a.id, b.id) })
		for _, c := range cs {
			// Orderly: a peer on another engine of the network reads EOF.
			e.startClose(c, engine.ErrEngineClosed, true)
		}
		if e.armStop != nil {
			e.armStop()
			e.armStop = nil
		}
		e.armGen++
		e.wake.Signal()
	}
	e.mu.Unlock()
	select {
	case <-e.done:
		if e.detach != nil {
			e.detach()
		}
		e.net.removeEngine(e)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// schedule puts c on the run queue unless it is already there. Every change
// that may let c make progress calls it; the loop services c once per entry.
// The connection may belong to another engine of the network.
func (e *Engine) schedule(c *conn) {
	if c.scheduled || c.state == stateClosed || c.e.stopped {
		return
	}
	c.scheduled = true
	c.e.push(task{c: c})
}

func (e *Engine) push(t task) {
	e.runq = append(e.runq, t)
	e.wake.Signal()
}

// loop is the engine's only callback goroutine: it runs tasks in FIFO
// order, one at a time, so callbacks are never concurrent and their order
// follows from the order of the calls that caused them.
func (e *Engine) loop() {
	defer close(e.done)
	e.mu.Lock()
	defer func() {
		// Also on a panic or runtime.Goexit (t.Fatal in a callback): free
		// anyone in Settle instead of leaving them waiting for a dead loop.
		e.stopped = true
		e.busy = false
		e.idle.Broadcast()
		e.mu.Unlock()
	}()
	for {
		for e.runqHead == len(e.runq) || (e.manual && e.settling == 0 && !e.closed) {
			if e.runqHead == len(e.runq) {
				e.runq = e.runq[:0]
				e.runqHead = 0
				if e.closed && len(e.conns) == 0 {
					e.stopped = true
					e.busy = false
					e.idle.Broadcast()
					return
				}
			}
			e.busy = false
			e.idle.Broadcast()
			e.wake.Wait()
		}
		e.busy = true
		t := e.runq[e.runqHead]
		e.runq[e.runqHead] = task{}
		e.runqHead++
		if t.t != nil {
			e.runTimer(t.t)
		} else {
			e.service(t.c)
		}
	}
}

// unlocked runs a callback without the engine lock, so it may call back
// into the engine.
func (e *Engine) unlocked(fn func()) {
	e.mu.Unlock()
	defer e.mu.Lock()
	fn()
}

type listener struct {
	e          *Engine
	ap         netip.AddrPort
	addr       *net.TCPAddr
	newHandler func(engine.Conn) engine.Handler

	// paused: Pause holds accepted connections in backlog, before their
	// newHandler, as a kernel's accept queue holds them; a dial that finds
	// ListenBacklog of them waiting is refused (a kernel drops the SYN).
	paused  bool
	backlog []*conn
	budget  *engine.AcceptBudget
}

// ListenBacklog bounds the connections a paused listener holds, as the
// backlog given to listen(2) does on a kernel.
const ListenBacklog = 4096

// Pause implements engine.Listener: connections dialled from now on wait
// before their newHandler until Resume.
func (l *listener) Pause() {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	l.paused = true
}

// Resume implements engine.Listener: the held connections go on, oldest
// first.
func (l *listener) Resume() {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	l.paused = false
	l.release()
}

// SetBudget implements engine.Listener: a connection takes a unit when
// its newHandler is called, and waits in the backlog while none is left.
func (l *listener) SetBudget(b *engine.AcceptBudget) {
	l.e.mu.Lock()
	l.budget = b
	l.e.mu.Unlock()
	if b != nil {
		b.OnGive(func() {
			l.e.mu.Lock()
			defer l.e.mu.Unlock()
			if !l.paused {
				l.release()
			}
		})
	}
}

// release schedules the held connections again, oldest first; those the
// listener still cannot take come back to the backlog in that order.
func (l *listener) release() {
	for _, c := range l.backlog {
		c.held = false
		l.e.schedule(c)
	}
	l.backlog = nil
}

// hold keeps c, accepted on l and not yet given its handler, while l is
// paused; false when l is not.
func (l *listener) hold(c *conn) bool {
	if l == nil || !l.paused && (l.budget == nil || l.budget.Left() > 0) {
		return false
	}
	if !c.held {
		c.held = true
		l.backlog = append(l.backlog, c)
	}
	return true
}

func (l *listener) Addr() net.Addr { return l.addr }

// Close unbinds the address; dials that reach the loop afterwards are
// refused. Accepted connections stay open. Idempotent.
func (l *listener) Close() error {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	if l.e.net.listeners[l.ap] == l {
		delete(l.e.net.listeners, l.ap)
	}
	// The kernel resets what waits in a closed listener's backlog.
	for _, c := range l.backlog {
		p := c.peer
		l.e.startClose(c, nil, false)
		if p != nil && !p.closing && p.state != stateClosed {
			p.resetErr = resetError("read", p)
			l.e.schedule(p)
		}
	}
	l.backlog, l.paused = nil, false
	return nil
}
