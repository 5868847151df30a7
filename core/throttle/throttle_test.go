package throttle

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// inline runs callbacks at once (a loop that is the caller).
func inline(fn func()) error { fn(); return nil }

func TestGetPutLimit(t *testing.T) {
	th := New("bytes", 100)
	if !th.Get(60) || !th.Get(40) {
		t.Fatal("fits")
	}
	if th.Get(1) {
		t.Fatal("over the limit")
	}
	th.Put(50)
	if !th.Get(50) || th.Current() != 100 {
		t.Fatal(th.Current())
	}
	if s := th.Stats(); s.Peak != 100 || s.Gets != 3 || s.Puts != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestUnlimitedAndNil(t *testing.T) {
	var nilT *Throttle
	if !nilT.Get(1<<40) || nilT.Current() != 0 {
		t.Fatal("nil throttle must admit")
	}
	if _, ok := nilT.GetOrWait(5, inline, func() {}); !ok {
		t.Fatal("nil GetOrWait")
	}
	nilT.Put(5)
	u := New("u", 0)
	if !u.Get(1 << 40) {
		t.Fatal("max 0 is unlimited")
	}
}

func TestOversizedAlone(t *testing.T) {
	th := New("bytes", 100)
	if !th.Get(1000) {
		t.Fatal("an oversized request is admitted when nothing is held")
	}
	if th.Get(1) {
		t.Fatal("nothing else while the oversized one is held")
	}
	th.Put(1000)
	th.Get(1)
	if th.Get(1000) {
		t.Fatal("oversized only when empty")
	}
}

func TestWaitersFIFOAndCallback(t *testing.T) {
	th := New("msgs", 2)
	th.Get(2)
	var order []int
	var mu sync.Mutex
	rec := func(i int) func() { return func() { mu.Lock(); order = append(order, i); mu.Unlock() } }
	w1, ok1 := th.GetOrWait(2, inline, rec(1))
	w2, ok2 := th.GetOrWait(1, inline, rec(2))
	if ok1 || ok2 || w1 == nil || w2 == nil {
		t.Fatal("must wait")
	}
	if th.Get(1) {
		t.Fatal("Get must not overtake waiters")
	}
	th.Put(1) // 1 free: head wants 2, nothing granted (no overtaking)
	if len(order) != 0 {
		t.Fatalf("granted early: %v", order)
	}
	th.Put(1) // 2 free: head granted; 0 free
	if len(order) != 1 || order[0] != 1 || th.Current() != 2 {
		t.Fatalf("order %v cur %d", order, th.Current())
	}
	th.Put(2)
	if len(order) != 2 || order[1] != 2 || th.Current() != 1 {
		t.Fatalf("order %v cur %d", order, th.Current())
	}
	if s := th.Stats(); s.Waits != 2 || s.Waiting != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestExecFailureReturnsCapacity(t *testing.T) {
	th := New("bytes", 10)
	th.Get(10)
	dead := func(func()) error { return errors.New("closed") }
	ran := false
	if _, ok := th.GetOrWait(5, dead, func() { ran = true }); ok {
		t.Fatal("must wait")
	}
	th.Put(10)
	if ran || th.Current() != 0 {
		t.Fatalf("ran=%v cur=%d: a grant to a dead loop must be returned", ran, th.Current())
	}
}

func TestCancel(t *testing.T) {
	th := New("bytes", 10)
	th.Get(10)
	w, _ := th.GetOrWait(5, inline, func() { t.Fatal("cancelled waiter ran") })
	if !w.Cancel() {
		t.Fatal("cancel pending")
	}
	th.Put(10)
	if th.Current() != 0 {
		t.Fatal(th.Current())
	}
	// A grant queued on a loop that never runs it: Cancel gives it back.
	var queued []func()
	th.Get(10)
	w2, _ := th.GetOrWait(5, func(fn func()) error { queued = append(queued, fn); return nil }, func() { t.Fatal("ran after cancel") })
	th.Put(10)
	if th.Current() != 5 || len(queued) != 1 {
		t.Fatal("granted and queued")
	}
	if !w2.Cancel() || th.Current() != 0 {
		t.Fatal("cancel of a granted waiter returns its capacity")
	}
	queued[0]() // the late callback must be a no-op
}

func TestCancelHeadLetsOthersIn(t *testing.T) {
	th := New("bytes", 10)
	th.Get(8)
	big, _ := th.GetOrWait(10, inline, func() {})
	got := false
	th.GetOrWait(2, inline, func() { got = true })
	big.Cancel()
	if !got {
		t.Fatal("removing a blocking head must grant the next waiter")
	}
}

func TestWaitDuration(t *testing.T) {
	now := time.Unix(0, 0)
	var seen time.Duration
	th := New("b", 1, WithClock(func() time.Time { return now }), WithWaitObserver(func(d time.Duration) { seen = d }))
	th.Get(1)
	th.GetOrWait(1, inline, func() {})
	now = now.Add(3 * time.Millisecond)
	th.Put(1)
	if seen != 3*time.Millisecond || th.Stats().WaitTotal != 3*time.Millisecond {
		t.Fatal(seen, th.Stats().WaitTotal)
	}
}

// Many goroutines: the amount held never exceeds the limit (no request is
// oversized here) and everything is eventually granted.
// The wake-up latency runs from the release that grants a waiter to its
// callback starting on its loop; a grant cancelled before it runs is not a
// wake-up.
func TestWakeupLatency(t *testing.T) {
	now := time.Unix(100, 0)
	var seen []time.Duration
	th := New("b", 2, WithClock(func() time.Time { return now }),
		WithWakeupObserver(func(d time.Duration) { seen = append(seen, d) }))
	var loop []func() // the waiters' loop queue, run by hand
	exec := func(fn func()) error { loop = append(loop, fn); return nil }
	th.Get(2)
	ran := 0
	th.GetOrWait(1, exec, func() { ran++ })
	w2, _ := th.GetOrWait(1, exec, func() { ran++ })
	now = now.Add(time.Millisecond) // the wait: not part of the wake-up
	th.Put(2)                       // grants both
	if len(loop) != 2 || len(seen) != 0 {
		t.Fatalf("queued %d, observed %v before any callback ran", len(loop), seen)
	}
	now = now.Add(7 * time.Microsecond)
	loop[0]()
	if !w2.Cancel() { // granted, not yet run: the grant goes back
		t.Fatal("cancel of a granted waiter")
	}
	loop[1]()
	if ran != 1 || len(seen) != 1 || seen[0] != 7*time.Microsecond {
		t.Fatalf("ran %d, wake-ups %v, want one of 7µs", ran, seen)
	}
}

func TestConcurrentNeverExceeds(t *testing.T) {
	const max = 1000
	th := New("bytes", max)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := int64(1 + (g*31+i*7)%300)
				done := make(chan struct{})
				got := func() {
					if h := held.Add(n); h > peak.Load() {
						peak.Store(h)
					}
					close(done)
				}
				if _, ok := th.GetOrWait(n, func(fn func()) error { go fn(); return nil }, got); ok {
					got()
				}
				<-done
				held.Add(-n)
				th.Put(n)
			}
		}()
	}
	wg.Wait()
	if p := th.Stats().Peak; p > max {
		t.Fatalf("peak %d > %d", p, max)
	}
	if th.Current() != 0 {
		t.Fatal(th.Current())
	}
}

// BenchmarkWakeup measures Put → waiter callback running on another
// goroutine (the "loop"), the wake-up latency that replaces Ceph's 1 ms poll.
func BenchmarkWakeup(b *testing.B) {
	th := New("bytes", 1)
	loop := make(chan func(), 1)
	go func() {
		for fn := range loop {
			fn()
		}
	}()
	exec := func(fn func()) error { loop <- fn; return nil }
	woke := make(chan struct{})
	th.Get(1)
	for b.Loop() {
		th.GetOrWait(1, exec, func() { woke <- struct{}{} })
		th.Put(1)
		<-woke
	}
	close(loop)
}
