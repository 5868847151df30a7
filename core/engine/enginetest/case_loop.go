package enginetest

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// pingPong dials an echo server with a client that keeps one 4 KiB message
// bouncing until stop, so callbacks run all the time. It returns the
// client's conn and handler.
func (k *kit) pingPong(e engine.Engine, stop *atomic.Bool) (engine.Conn, *handler) {
	t := k.t
	addr := k.echoServer(e, nil)
	msg := make([]byte, 4096)
	got := 0
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) { _ = c.Write(msg) }
	ch.data = func(c engine.Conn, in []byte) int {
		got += len(in)
		if got >= len(msg) && !stop.Load() {
			got -= len(msg)
			// The case closes the conn from its own goroutine once stop is
			// set, so a Write racing that Close is refused, as it must be.
			if err := c.Write(msg); err != nil && !(stop.Load() && errors.Is(err, engine.ErrClosed)) {
				t.Errorf("Write: %v", err)
			}
		}
		return len(in)
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, ch.openedCh, "client OnOpen")
	return c, ch
}

// Spec: "Execute". 100 goroutines submit 100 functions each to a busy
// connection: all run, each submitter's functions in its order, and none
// overlaps a callback (the guard; the plain slice would also trip -race).
func testExecuteConcurrent(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	var stop atomic.Bool
	c, ch := k.pingPong(e, &stop)
	const submitters, each = 100, 100
	next := make([]int, submitters) // touched only on the loop
	all := newCounter(submitters * each)
	var wg sync.WaitGroup
	for s := 0; s < submitters; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				fn := ch.g.run("Execute", func() {
					if next[s] != i {
						t.Errorf("submitter %d: function %d ran, want %d (order lost)", s, i, next[s])
					}
					next[s] = i + 1
					all.add(1)
				})
				for {
					err := c.Execute(fn)
					if err == nil {
						break
					}
					if !errors.Is(err, engine.ErrExecuteQueueFull) {
						t.Errorf("Execute: %v", err)
						return
					}
					runtime.Gosched() // the bounded queue pushed back; retry
				}
			}
		}()
	}
	wg.Wait()
	wait(t, all.done, "all 10,000 Execute functions")
	stop.Store(true)
	_ = c.Close()
	ch.waitClosed(t)
}

// Spec: "Execute". From inside a callback Execute does not deadlock and
// runs the function after the callback returns; the per-loop queue is
// bounded (ErrExecuteQueueFull) and keeps submission order; a function may
// submit another.
func testExecuteFromCallback(k *kit) {
	t := k.t
	const limit = 64
	e := k.engine(engine.Config{ExecuteQueueLimit: limit})
	addr := k.echoServer(e, nil)
	inOpen := false
	var accepted, ran int
	done := make(chan struct{})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		inOpen = true
		defer func() { inOpen = false }()
		for i := 0; i <= limit; i++ {
			err := c.Execute(ch.g.run("Execute", func() {
				if inOpen {
					t.Errorf("Execute function ran inside the callback that submitted it")
				}
				if ran != i {
					t.Errorf("function %d ran as number %d", i, ran)
				}
				ran++
				if ran == accepted {
					// Chain one more from inside a function.
					if err := c.Execute(ch.g.run("Execute", func() { close(done) })); err != nil {
						t.Errorf("Execute from an Execute function: %v", err)
					}
				}
			}))
			if err != nil {
				if !errors.Is(err, engine.ErrExecuteQueueFull) {
					t.Errorf("Execute %d: %v, want nil or ErrExecuteQueueFull", i, err)
				}
				break
			}
			accepted++
		}
		if accepted > limit {
			t.Errorf("%d functions accepted during one callback, ExecuteQueueLimit is %d", accepted, limit)
		}
		if accepted == 0 {
			t.Errorf("no Execute accepted")
		}
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, done, "queued functions after OnOpen returned")
	_ = c.Close()
	ch.waitClosed(t)
}

// Spec: "Timers". Timers fire on the loop in deadline order, not in
// creation order, and never early.
func testTimerOrder(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	addr := k.echoServer(e, nil)
	delays := []time.Duration{60, 10, 40, 0, 20, 50, 30}
	var order []time.Duration
	done := make(chan struct{})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		start := time.Now()
		for _, d := range delays {
			d := d * time.Millisecond
			c.AfterFunc(d, ch.g.run("timer", func() {
				if el := time.Since(start); el < d {
					t.Errorf("timer of %v fired after %v", d, el)
				}
				order = append(order, d)
				if len(order) == len(delays) {
					close(done)
				}
			}))
		}
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, done, "all timers")
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("timers fired in order %v, want deadline order", order)
		}
	}
	_ = c.Close()
	ch.waitClosed(t)
}

// Spec: "Timers". A timer stopped on the loop never runs, even when it is
// already due in the same batch; Stop after firing reports false; a timer
// of a closed connection never runs; Stop works from any goroutine.
func testTimerStop(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	addr := k.echoServer(e, nil)

	var closedTimerRan atomic.Bool
	other := newHandler(t, "doomed", nil)
	other.open = func(c engine.Conn) {
		c.AfterFunc(40*time.Millisecond, func() { closedTimerRan.Store(true) })
		_ = c.Close()
	}
	k.dial(e, addr, other, engine.DialOptions{})
	other.waitClosed(t)

	var aRan, dRan bool
	var tB, tD engine.Timer
	done := make(chan struct{})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		c.AfterFunc(30*time.Millisecond, ch.g.run("A", func() {
			aRan = true
			if !tB.Stop() {
				t.Errorf("Stop on the loop of a due, unstarted timer returned false")
			}
		}))
		tB = c.AfterFunc(30*time.Millisecond, ch.g.run("B", func() { t.Errorf("timer B ran after Stop returned true") }))
		tC := c.AfterFunc(20*time.Millisecond, ch.g.run("C", func() { t.Errorf("timer C ran after Stop returned true") }))
		if !tC.Stop() {
			t.Errorf("Stop of a pending timer returned false")
		}
		if tC.Stop() {
			t.Errorf("second Stop returned true")
		}
		tD = c.AfterFunc(5*time.Millisecond, ch.g.run("D", func() { dRan = true }))
		c.AfterFunc(100*time.Millisecond, ch.g.run("sentinel", func() {
			if !aRan || !dRan {
				t.Errorf("timers A (%v) or D (%v) did not run before a later deadline", aRan, dRan)
			}
			if tD.Stop() {
				t.Errorf("Stop after the timer ran returned true")
			}
			close(done)
		}))
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, ch.openedCh, "client OnOpen")
	ran := make(chan struct{}, 1)
	tF := c.AfterFunc(time.Hour, func() { ran <- struct{}{} })
	if !tF.Stop() {
		t.Errorf("Stop from another goroutine returned false")
	}
	wait(t, done, "sentinel timer")
	if closedTimerRan.Load() {
		t.Errorf("timer of a closed connection ran")
	}
	_ = c.Close()
	ch.waitClosed(t)
}

// Spec: "Loop affinity". A proxy-like pair: the accepted leg dials the
// backend Near itself and each forwards to the other. Callbacks of the two
// legs and Execute functions sent to either never overlap; they share a
// plain counter that -race would also flag.
func testNearAffinity(k *kit) {
	t := k.t
	e := k.engine(engine.Config{Workers: 4})
	backend := k.echoServer(e, nil)
	g := newGuard(t)
	shared := 0 // touched by both legs without a lock
	var legs sync.WaitGroup
	legs.Add(2)
	frontConn := make(chan engine.Conn, 1)
	backConn := make(chan engine.Conn, 1)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		var bc engine.Conn
		front := newHandler(t, "front", g)
		back := newHandler(t, "back", g)
		front.open = func(fc engine.Conn) {
			shared++
			back.data = func(c engine.Conn, in []byte) int {
				shared++
				if err := fc.Write(in); err != nil {
					t.Errorf("front Write: %v", err)
				}
				return len(in)
			}
			back.closed = func(engine.Conn, error) { shared++; legs.Done() }
			var err error
			bc, err = e.Dial(backend, back, engine.DialOptions{Near: fc})
			if err != nil {
				t.Errorf("Dial Near: %v", err)
				return
			}
			frontConn <- fc
			backConn <- bc
		}
		front.data = func(c engine.Conn, in []byte) int {
			shared++
			if err := bc.Write(in); err != nil {
				t.Errorf("back Write: %v", err)
			}
			return len(in)
		}
		front.eof = func(c engine.Conn) {
			shared++
			_ = bc.Close()
			_ = c.Close()
		}
		front.closed = func(engine.Conn, error) { shared++; legs.Done() }
		return front
	})
	const size = 1 << 20
	var got []byte
	echoed := make(chan struct{})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		b := make([]byte, size)
		fillPattern(b, 0)
		_ = c.Write(b)
	}
	ch.data = func(c engine.Conn, in []byte) int {
		got = append(got, in...)
		if len(got) == size {
			close(echoed)
		}
		return len(in)
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	fc, bc := <-frontConn, <-backConn
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := fc
			if i%2 == 1 {
				target = bc
			}
			for j := 0; j < 200; j++ {
				if err := target.Execute(g.run("Execute", func() { shared++ })); err != nil && !errors.Is(err, engine.ErrClosed) {
					t.Errorf("Execute: %v", err)
				}
			}
		}()
	}
	wait(t, echoed, "1 MiB through the Near pair")
	wg.Wait()
	if i := checkPattern(got, 0); i >= 0 {
		t.Fatalf("relayed byte %d wrong", i)
	}
	_ = c.Close()
	ch.waitClosed(t)
	legsDone := make(chan struct{})
	go func() { legs.Wait(); close(legsDone) }()
	wait(t, legsDone, "both legs closed")
}

// Spec: "Splicer". Where the engine offers it: a relay that consumes a
// header in OnData, queues a rewritten header to the destination, splices
// 1 MiB with a limit, then the rest without one; bytes arrive in order and
// done reports the counts, EOF as a nil error.
func testSplice(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const payload = 8 << 20
	const firstLeg = 1 << 20
	var sinkGot int64
	var prefix []byte
	sinkDone := make(chan struct{})
	sink := newHandler(t, "sink", nil)
	_, backend := k.listen(e, func(engine.Conn) engine.Handler {
		sink.data = func(c engine.Conn, in []byte) int {
			n := len(in)
			for len(prefix) < 4 && len(in) > 0 {
				prefix = append(prefix, in[0])
				in = in[1:]
			}
			if i := checkPattern(in, sinkGot); i >= 0 {
				t.Errorf("spliced byte %d wrong", sinkGot+int64(i))
				_ = c.Close()
			}
			sinkGot += int64(len(in))
			return n
		}
		sink.eof = func(c engine.Conn) { close(sinkDone); _ = c.Close() }
		return sink
	})
	var n1, n2 int64 = -1, -1
	spliced := make(chan struct{})
	unsupported := make(chan struct{})
	g := newGuard(t)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		var bc engine.Conn
		front := newHandler(t, "front", g)
		back := newHandler(t, "back", g)
		front.open = func(fc engine.Conn) {
			var err error
			if bc, err = e.Dial(backend, back, engine.DialOptions{Near: fc}); err != nil {
				t.Errorf("Dial: %v", err)
			}
		}
		started := false
		front.data = func(fc engine.Conn, in []byte) int {
			if started {
				t.Errorf("OnData during a splice")
				return len(in)
			}
			if len(in) < 5 {
				return 0
			}
			if string(in[:5]) != "HELO\n" {
				t.Errorf("header %q", in[:5])
			}
			sp, ok := fc.(engine.Splicer)
			if !ok {
				close(unsupported)
				_ = fc.Close()
				_ = bc.Close()
				return len(in)
			}
			started = true
			if err := bc.Write([]byte("HDR:")); err != nil {
				t.Errorf("Write to dst: %v", err)
			}
			err := sp.Splice(bc, firstLeg, func(n int64, err error) {
				n1 = n
				if err != nil {
					t.Errorf("limited splice: %v", err)
				}
				err = sp.Splice(bc, -1, func(n int64, err error) {
					n2 = n
					if err != nil {
						t.Errorf("splice to EOF: %v", err)
					}
					if err := bc.CloseWrite(); err != nil {
						t.Errorf("CloseWrite dst: %v", err)
					}
					close(spliced)
				})
				if err != nil {
					t.Errorf("second Splice: %v", err)
				}
			})
			if err != nil {
				t.Errorf("Splice: %v", err)
			}
			return 5
		}
		front.eof = func(c engine.Conn) { t.Errorf("OnReadEOF after a splice reached EOF") }
		return front
	})
	p := newPump(t, 64<<10, engine.DefaultOutQueueLimit, payload)
	p.closeW = true
	// On an engine without Splicer the front closes both legs while the
	// pump may still be writing: a refused Write is then expected.
	p.shared = true
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		_ = c.Write([]byte("HELO\n"))
		p.fill(c)
	}
	ch.drained = p.fill
	ch.eof = func(c engine.Conn) { _ = c.Close() }
	c := k.dial(e, addr, ch, engine.DialOptions{})
	select {
	case <-unsupported:
		_ = c.Close()
		t.Skip("engine does not implement engine.Splicer (optional capability)")
	case <-spliced:
	case <-time.After(waitTimeout):
		t.Fatalf("splice did not finish")
	}
	if n1 != firstLeg || n2 != payload-firstLeg {
		t.Errorf("splice counts %d and %d, want %d and %d", n1, n2, firstLeg, payload-firstLeg)
	}
	wait(t, sinkDone, "sink EOF")
	if !bytes.Equal(prefix, []byte("HDR:")) || sinkGot != payload {
		t.Errorf("sink got prefix %q and %d payload bytes, want \"HDR:\" and %d", prefix, sinkGot, payload)
	}
	_ = c.Close()
	ch.waitClosed(t)
}
