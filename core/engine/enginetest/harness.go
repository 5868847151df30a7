package enginetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// waitTimeout bounds every wait in the kit. It is generous: a case that
// needs it has failed.
const waitTimeout = 20 * time.Second

// shutdownTimeout bounds the Shutdown run in each case's cleanup; the
// engine's goroutines must be gone by then (that is the leak check).
const shutdownTimeout = 10 * time.Second

type kit struct {
	t         *testing.T
	newEngine Factory
}

// engine builds an engine and shuts it down when the case ends. Shutdown is
// idempotent by contract, so cases may also call it themselves.
func (k *kit) engine(cfg engine.Config) engine.Engine {
	k.t.Helper()
	e := k.newEngine(k.t, cfg)
	if e == nil {
		k.t.Fatal("factory returned a nil engine")
	}
	k.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			k.t.Errorf("Shutdown at end of case: %v (goroutines or threads still running)", err)
		}
	})
	return e
}

// listen binds 127.0.0.1:0 and returns the address to dial.
func (k *kit) listen(e engine.Engine, newHandler func(engine.Conn) engine.Handler) (engine.Listener, string) {
	k.t.Helper()
	ln, err := e.Listen("127.0.0.1:0", newHandler)
	if err != nil {
		k.t.Fatalf("Listen: %v", err)
	}
	return ln, ln.Addr().String()
}

func (k *kit) dial(e engine.Engine, addr string, h engine.Handler, opts engine.DialOptions) engine.Conn {
	k.t.Helper()
	c, err := e.Dial(addr, h, opts)
	if err != nil {
		k.t.Fatalf("Dial %s: %v", addr, err)
	}
	return c
}

// Wait is the kit's wait for an engine's own tests: it blocks until ch is
// closed, or fails t naming what after the kit's timeout.
func Wait(t testing.TB, ch <-chan struct{}, what string) { t.Helper(); wait(t, ch, what) }

// wait blocks until ch is closed or the kit's timeout passes.
func wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	select {
	case <-ch:
	case <-tm.C:
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

// guard detects overlapping callbacks: every callback (and every Execute
// or timer function the kit submits) holds it while it runs. Connections
// that must be serialised together share one guard.
type guard struct {
	t    testing.TB
	busy atomic.Int32
}

func newGuard(t testing.TB) *guard { return &guard{t: t} }

func (g *guard) enter(what string) {
	if !g.busy.CompareAndSwap(0, 1) {
		g.t.Errorf("%s ran while another callback of the same loop was running (spec: one loop per conn)", what)
	}
}

func (g *guard) exit() { g.busy.Store(0) }

// run wraps fn so it is checked like a callback.
func (g *guard) run(what string, fn func()) func() {
	return func() {
		g.enter(what)
		defer g.exit()
		fn()
	}
}

// handler is the kit's checked Handler: optional behaviour in the func
// fields, contract checks in the methods.
type handler struct {
	t    testing.TB
	name string
	g    *guard

	open    func(c engine.Conn)
	data    func(c engine.Conn, in []byte) int
	eof     func(c engine.Conn)
	drained func(c engine.Conn)
	closed  func(c engine.Conn, err error)

	remote    string // RemoteAddr seen in OnOpen, if the case records it
	badCount  bool   // data returns out-of-range counts on purpose
	opened    atomic.Bool
	eofs      atomic.Int32
	closes    atomic.Int32
	closeErr  error         // set before done is closed
	done      chan struct{} // closed after OnClose
	eofSeen   chan struct{} // closed after OnReadEOF
	openedCh  chan struct{} // closed after OnOpen
	closeOnce sync.Once
}

func newHandler(t testing.TB, name string, g *guard) *handler {
	if g == nil {
		g = newGuard(t)
	}
	return &handler{t: t, name: name, g: g, done: make(chan struct{}), eofSeen: make(chan struct{}), openedCh: make(chan struct{})}
}

func (h *handler) enter(cb string) {
	if h.closes.Load() > 0 {
		h.t.Errorf("%s: %s after OnClose (spec: OnClose is the last callback)", h.name, cb)
	}
	h.g.enter(h.name + "." + cb)
}

func (h *handler) OnOpen(c engine.Conn) {
	h.enter("OnOpen")
	defer h.g.exit()
	if h.opened.Swap(true) {
		h.t.Errorf("%s: OnOpen twice", h.name)
	}
	if h.open != nil {
		h.open(c)
	}
	close(h.openedCh)
}

func (h *handler) OnData(c engine.Conn, in []byte) int {
	h.enter("OnData")
	defer h.g.exit()
	if !h.opened.Load() {
		h.t.Errorf("%s: OnData before OnOpen", h.name)
	}
	if h.eofs.Load() > 0 {
		h.t.Errorf("%s: OnData after OnReadEOF", h.name)
	}
	if len(in) == 0 {
		h.t.Errorf("%s: OnData with no bytes", h.name)
	}
	if h.data == nil {
		return len(in)
	}
	n := h.data(c, in)
	if (n < 0 || n > len(in)) && !h.badCount {
		h.t.Errorf("%s: kit bug: consumed %d of %d", h.name, n, len(in))
	}
	return n
}

func (h *handler) OnReadEOF(c engine.Conn) {
	h.enter("OnReadEOF")
	defer h.g.exit()
	if h.eofs.Add(1) != 1 {
		h.t.Errorf("%s: OnReadEOF twice", h.name)
		return
	}
	if h.eof != nil {
		h.eof(c)
	}
	close(h.eofSeen)
}

func (h *handler) OnDrained(c engine.Conn) {
	h.enter("OnDrained")
	defer h.g.exit()
	if h.drained != nil {
		h.drained(c)
	}
}

func (h *handler) OnClose(c engine.Conn, err error) {
	h.enter("OnClose")
	defer h.g.exit()
	if h.closes.Add(1) != 1 {
		h.t.Errorf("%s: OnClose twice (second err: %v)", h.name, err)
		return
	}
	h.closeErr = err
	if h.closed != nil {
		h.closed(c, err)
	}
	h.closeOnce.Do(func() { close(h.done) })
}

// waitEOF waits for OnReadEOF and fails at once if the connection closes
// first (an engine that turns read EOF into a full close).
func (h *handler) waitEOF(t testing.TB, what string) {
	t.Helper()
	h.waitEOFProgress(t, what, nil)
}

// waitEOFProgress is waitEOF for a bulk transfer: it fails only when
// progress (a byte count) has not moved for waitTimeout, not when the
// whole transfer takes longer. How long 64 MiB takes is the engine's
// throughput on the machine of the moment (the perf harness measures
// that); a test bounds only a stall. A nil progress makes the bound
// absolute.
func (h *handler) waitEOFProgress(t testing.TB, what string, progress func() int64) {
	t.Helper()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, moved := int64(-1), time.Now()
	for {
		select {
		case <-h.eofSeen:
			return
		case <-h.done:
			select {
			case <-h.eofSeen:
				return
			default:
				t.Fatalf("%s: connection closed (OnClose %v) before %s (spec: read EOF and CloseWrite each shut one direction only)", h.name, h.closeErr, what)
			}
		case now := <-tick.C:
			if progress != nil {
				if p := progress(); p != last {
					last, moved = p, now
				}
			}
			if now.Sub(moved) >= waitTimeout {
				if progress != nil {
					t.Fatalf("no progress for %v (%d bytes so far) waiting for %s", waitTimeout, last, what)
				}
				t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
			}
		}
	}
}

// waitClosed waits for OnClose and returns its error.
func (h *handler) waitClosed(t testing.TB) error {
	t.Helper()
	wait(t, h.done, h.name+" OnClose")
	return h.closeErr
}

// handlers collects the server-side handlers a listener creates.
type handlers struct {
	mu   sync.Mutex
	list []*handler
	ch   chan *handler
}

func newHandlers(n int) *handlers { return &handlers{ch: make(chan *handler, n)} }

func (hs *handlers) add(h *handler) {
	hs.mu.Lock()
	hs.list = append(hs.list, h)
	hs.mu.Unlock()
	select {
	case hs.ch <- h:
	default:
	}
}

func (hs *handlers) next(t testing.TB) *handler {
	t.Helper()
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	select {
	case h := <-hs.ch:
		return h
	case <-tm.C:
		t.Fatalf("timed out waiting for an accepted connection")
		return nil
	}
}

// counter closes a channel when it reaches n.
type counter struct {
	n    int64
	c    atomic.Int64
	done chan struct{}
}

func newCounter(n int64) *counter { return &counter{n: n, done: make(chan struct{})} }

func (c *counter) add(d int64) {
	if c.c.Add(d) == c.n {
		close(c.done)
	}
}

// pattern is a position-dependent byte stream, so loss, duplication and
// reordering all show.
func patternByte(off int64) byte { return byte(off ^ off>>8 ^ off>>16 ^ off>>24) }

func fillPattern(b []byte, off int64) {
	for i := range b {
		b[i] = patternByte(off + int64(i))
	}
}

// checkPattern returns the index of the first wrong byte, or -1.
func checkPattern(b []byte, off int64) int {
	for i := range b {
		if b[i] != patternByte(off+int64(i)) {
			return i
		}
	}
	return -1
}

// pump writes a pattern stream on its connection's loop: chunks until the
// out-queue refuses one, then again at each OnDrained, up to target bytes.
// It checks the out-queue contract on every refusal.
type pump struct {
	t       testing.TB
	chunk   int
	limit   int          // Config.OutQueueLimit
	target  atomic.Int64 // stop once this many bytes are accepted
	sent    atomic.Int64 // bytes accepted by Write
	refused atomic.Int64 // ErrOutQueueFull results
	closeW  bool         // CloseWrite once target is reached
	shared  bool         // others write too: skip the exclusive-writer checks
	buf     []byte
	doneCh  chan struct{}
	once    sync.Once
}

func newPump(t testing.TB, chunk, limit int, target int64) *pump {
	p := &pump{t: t, chunk: chunk, limit: limit, buf: make([]byte, chunk), doneCh: make(chan struct{})}
	p.target.Store(target)
	return p
}

// endAfter moves the end of the stream to extra bytes past what the pump
// has sent, for the pump and for the sink's target, on the pump's loop
// (c's, through h's guard): no fill runs between reading sent and moving
// both ends. Read from the test goroutine instead, a fill running
// meanwhile (a stall seen where the loop was only starved of CPU) could
// pass the sink's target before the pump's moved, and the sink, which
// waits for its exact end, would never finish.
func (p *pump) endAfter(c engine.Conn, h *handler, extra int64, sink *atomic.Int64) {
	set := make(chan struct{})
	err := c.Execute(h.g.run("end the stream", func() {
		end := p.sent.Load() + extra
		sink.Store(end)
		p.target.Store(end)
		close(set)
	}))
	if err != nil {
		p.t.Fatalf("Execute: %v", err)
	}
	wait(p.t, set, "the stream's new end")
}

// fill runs on the loop (OnOpen, OnDrained, or an Execute).
func (p *pump) fill(c engine.Conn) {
	for {
		sent := p.sent.Load()
		left := p.target.Load() - sent
		if left <= 0 {
			p.once.Do(func() {
				if p.closeW {
					if err := c.CloseWrite(); err != nil {
						p.t.Errorf("CloseWrite: %v", err)
					}
				}
				close(p.doneCh)
			})
			return
		}
		b := p.buf[:min(int64(p.chunk), left)]
		fillPattern(b, sent)
		before := c.OutQueued()
		err := c.Write(b)
		after := c.OutQueued()
		if after > p.limit {
			p.t.Errorf("OutQueued %d above OutQueueLimit %d", after, p.limit)
		}
		switch {
		case err == nil:
			p.sent.Add(int64(len(b)))
		case errors.Is(err, engine.ErrOutQueueFull):
			// All or nothing: only the loop writes, so the queue may only
			// have shrunk (the engine flushing) since before.
			if !p.shared && after > before {
				p.t.Errorf("refused Write queued bytes: OutQueued %d -> %d", before, after)
			}
			if !p.shared && before+len(b) <= p.limit {
				p.t.Errorf("Write of %d refused with only %d of %d queued", len(b), before, p.limit)
			}
			p.refused.Add(1)
			return
		case p.shared && errors.Is(err, engine.ErrClosed):
			return // another goroutine closed the connection
		default:
			p.t.Errorf("Write: %v", err)
			return
		}
	}
}

// waitStall waits until the pump has been refused and then made no
// progress for a while: the sender, the kernel buffers (if any) and the
// receiver's engine are all full. The quiet period only decides how strong
// the check is, not whether a correct engine passes. It fails when the
// pump reaches its target instead (nobody held the bytes back).
func waitStall(t testing.TB, p *pump) {
	t.Helper()
	const tick = 25 * time.Millisecond
	const quietTicks = 8
	tk := time.NewTicker(tick)
	defer tk.Stop()
	deadline := time.Now().Add(waitTimeout)
	last, quiet := int64(-1), 0
	for range tk.C {
		select {
		case <-p.doneCh:
			t.Fatalf("sender wrote all %d bytes although the receiver was paused: nothing pushed back", p.target.Load())
		default:
		}
		s := p.sent.Load()
		if s == last && p.refused.Load() > 0 {
			quiet++
			if quiet >= quietTicks {
				return
			}
		} else {
			quiet = 0
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("sender never stalled (sent %d)", s)
		}
	}
}
