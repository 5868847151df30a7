package serial

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// waitGroup waits for every drainer a test's loops started.
func waitGroup(t *testing.T, g *loopkit.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("drainers still running: %v", err)
	}
}

// Functions run in the order they were accepted, Post and Execute alike
// (spec/engine.md §5, "Ordered").
func TestPostOrder(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 1<<20)
	const n = 10000
	var got []int // touched only on the loop
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		fn := func() { got = append(got, i) }
		if i%2 == 0 {
			l.Post(fn)
		} else if err := l.Execute(fn); err != nil {
			t.Fatal(err)
		}
	}
	l.Post(func() { close(done) })
	<-done
	waitGroup(t, &g)
	for i, v := range got {
		if v != i {
			t.Fatalf("got[%d] = %d: out of order", i, v)
		}
	}
	if len(got) != n {
		t.Fatalf("ran %d of %d", len(got), n)
	}
}

// Execute refuses at the limit and queues nothing; Post (the engine's own
// events) is not limited; Release drains what queued while the token was
// held, in order (§5, "Bounded").
func TestExecuteBound(t *testing.T) {
	var g loopkit.Group
	const limit = 16
	l := New(&g, limit)
	l.Acquire() // hold the token: nothing drains
	var ran []int
	for i := 0; i < limit; i++ {
		if err := l.Execute(func() { ran = append(ran, i) }); err != nil {
			t.Fatalf("Execute %d: %v", i, err)
		}
	}
	if err := l.Execute(func() { ran = append(ran, -1) }); !errors.Is(err, engine.ErrExecuteQueueFull) {
		t.Fatalf("Execute over the limit: %v, want ErrExecuteQueueFull", err)
	}
	l.Post(func() { ran = append(ran, limit) }) // beyond the limit, still queued
	l.Release()
	waitGroup(t, &g)
	if len(ran) != limit+1 {
		t.Fatalf("ran %v", ran)
	}
	for i, v := range ran {
		if v != i {
			t.Fatalf("ran %v: out of order or refused fn ran", ran)
		}
	}
	// The queue has room again once drained.
	done := make(chan struct{})
	if err := l.Execute(func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
	waitGroup(t, &g)
}

// Execute from inside a loop function never runs inline and never
// deadlocks: it runs after the current function returns (§5).
func TestExecuteFromLoopNotInline(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 4)
	var steps []string
	done := make(chan struct{})
	l.Post(func() {
		steps = append(steps, "outer start")
		if err := l.Execute(func() {
			steps = append(steps, "inner")
			close(done)
		}); err != nil {
			t.Error(err)
		}
		steps = append(steps, "outer end")
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("inner Execute never ran: deadlock")
	}
	waitGroup(t, &g)
	want := []string{"outer start", "outer end", "inner"}
	for i := range want {
		if i >= len(steps) || steps[i] != want[i] {
			t.Fatalf("steps %v, want %v", steps, want)
		}
	}
}

// The token is held by one goroutine at a time: engine goroutines taking it
// with Acquire, and drainers started by Post, never overlap. The plain
// counter lets -race see any overlap too.
func TestTokenHandOff(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 1<<20)
	var inside atomic.Int32
	var counter int // guarded by the token only
	enter := func() {
		if n := inside.Add(1); n != 1 {
			t.Errorf("%d holders of the token", n)
		}
		counter++
		inside.Add(-1)
	}
	const workers, rounds = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(2)
		go func() { // a reader: runs callbacks on its own stack
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				l.Acquire()
				enter()
				l.Release()
			}
		}()
		go func() { // someone else: queues work
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				l.Post(enter)
			}
		}()
	}
	wg.Wait()
	l.Acquire() // drains have finished once we hold the token and release it
	l.Release()
	waitGroup(t, &g)
	if counter != 2*workers*rounds {
		t.Fatalf("counter %d, want %d", counter, 2*workers*rounds)
	}
}

// Acquire waits while a drainer runs a function, and gets the token once
// the queue is empty.
func TestAcquireWaitsForDrainer(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	block := make(chan struct{})
	running := make(chan struct{})
	l.Post(func() { close(running); <-block })
	<-running
	got := make(chan struct{})
	go func() {
		l.Acquire()
		close(got)
		l.Release()
	}()
	select {
	case <-got:
		t.Fatal("Acquire returned while a drainer held the token")
	case <-time.After(50 * time.Millisecond):
	}
	close(block)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire never got the token back")
	}
	waitGroup(t, &g)
}

// A function posted before an Acquire starts has run when Acquire returns,
// whoever holds the token at the push (nobody, a reader, a holder past its
// last look at the queue): an engine's event (a splice's done) is never
// overtaken by the poster's next callback. The other goroutine takes and
// gives the token in a tight loop to hit every hand-off.
func TestPostRunsBeforeLaterAcquire(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			l.Acquire()
			l.Release()
		}
	}()
	ran := 0 // guarded by the token
	for i := 1; i <= 20000; i++ {
		l.Post(func() { ran = i })
		l.Acquire()
		got := ran
		l.Release()
		if got != i {
			close(stop)
			wg.Wait()
			t.Fatalf("round %d: Acquire returned before the posted function ran (ran %d)", i, got)
		}
	}
	close(stop)
	wg.Wait()
	waitGroup(t, &g)
}

// Run runs its function on the caller's stack, after every function
// queued before it (as Post would) and before those queued meanwhile, which
// still run before the token is free; with the token free it starts no
// drainer goroutine.
func TestRunOrderAndNoDrainer(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 1<<10)
	var got []int // touched only on the loop
	// Queue while the token is held, so nothing drains before Run.
	l.Acquire()
	for i := range 3 {
		l.Post(func() { got = append(got, i) })
	}
	l.Release() // drains 0..2
	var inner atomic.Bool
	l.Acquire()
	l.Post(func() { got = append(got, 3) }) // queued, token held: redrain
	held := make(chan struct{})
	go func() {
		defer close(held)
		l.Run(func() {
			got = append(got, 4)
			l.Post(func() { got = append(got, 5); inner.Store(true) })
		})
	}()
	l.Release() // drains 3; Run then takes the token
	<-held
	if !inner.Load() {
		t.Fatal("a function posted from inside Run had not run when Run returned")
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("order %v", got)
		}
	}
	if len(got) != 6 {
		t.Fatalf("ran %v", got)
	}
	// Token free, queue empty: Run starts no drainer.
	before := runtime.NumGoroutine()
	ran := false
	l.Run(func() { ran = true; _ = l.Execute(func() {}) })
	if !ran || runtime.NumGoroutine() > before {
		t.Fatalf("ran %v, goroutines %d -> %d", ran, before, runtime.NumGoroutine())
	}
	waitGroup(t, &g)
}

// BenchmarkLoopAcquireRelease is a reader's cost per delivery: take the
// token, find the queue empty, give it back.
func BenchmarkLoopAcquireRelease(b *testing.B) {
	var g loopkit.Group
	l := New(&g, 1024)
	for b.Loop() {
		l.Acquire()
		l.Release()
	}
}

// BenchmarkLoopPostDrain is an engine event posted while a reader holds
// the token: queued, then drained by the holder's Release.
func BenchmarkLoopPostDrain(b *testing.B) {
	var g loopkit.Group
	l := New(&g, 1024)
	fn := func() {}
	for b.Loop() {
		l.Acquire()
		l.Post(fn)
		l.Release()
	}
}
