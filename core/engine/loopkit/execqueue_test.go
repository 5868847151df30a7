package loopkit

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

func TestExecQueueLimitAndOrder(t *testing.T) {
	var q ExecQueue
	q.Init(3)
	var got []int
	for i := 0; i < 3; i++ {
		if _, err := q.Execute(func() { got = append(got, i) }); err != nil {
			t.Fatalf("Execute %d: %v", i, err)
		}
	}
	if _, err := q.Execute(func() { t.Error("refused fn ran") }); !errors.Is(err, engine.ErrExecuteQueueFull) {
		t.Fatalf("Execute at the limit: %v, want ErrExecuteQueueFull", err)
	}
	// Post is not bounded by the Execute limit.
	if _, err := q.Post(func() { got = append(got, 3) }); err != nil {
		t.Fatalf("Post at the limit: %v", err)
	}
	if more := q.Drain(100, nil); more {
		t.Fatal("Drain reported more")
	}
	if !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("order %v", got)
	}
}

// Functions queued by a running function run in the same Drain, after it.
func TestExecQueueNested(t *testing.T) {
	var q ExecQueue
	q.Init(10)
	var got []string
	q.Execute(func() {
		got = append(got, "a")
		q.Execute(func() { got = append(got, "c") })
	})
	q.Execute(func() { got = append(got, "b") })
	q.Drain(10, nil)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("order %v", got)
	}
}

// TestExecQueueWakeHandshake walks the handshake through every
// interleaving that lost or duplicated wake-ups in the engines, in a
// fixed order (no goroutines, no timing).
func TestExecQueueWakeHandshake(t *testing.T) {
	var q ExecQueue
	q.Init(100)
	nop := func() {}
	push := func(want bool) {
		t.Helper()
		if wake, _ := q.Execute(nop); wake != want {
			t.Fatalf("push: wake %v, want %v", wake, want)
		}
	}
	push(true)  // a new queue is asleep: the first push wakes
	push(false) // already woken
	if q.Drain(100, nil) {
		t.Fatal("more after draining all")
	}
	// A push between the end of Drain and Idle: Idle must see it.
	push(false)
	if q.Idle() {
		t.Fatal("Idle true with a function queued: wake-up lost")
	}
	q.Drain(100, nil)
	if !q.Idle() {
		t.Fatal("Idle false on an empty queue")
	}
	push(true) // asleep: wake
	push(false)

	// gnet's lost wake-up: a drain that stops on a full batch. The wake
	// that started it is spent, pushes meanwhile do not wake, so the
	// loop must learn from Drain that it owes another pass, and Idle
	// must refuse to let it stop.
	for i := 0; i < 5; i++ {
		push(false)
	}
	if !q.Drain(3, nil) {
		t.Fatal("Drain on a full batch reported no more")
	}
	push(false)
	if q.Idle() {
		t.Fatal("Idle true after a partial drain: wake-up lost")
	}
	for q.Drain(3, nil) {
	}
	if !q.Idle() {
		t.Fatal("Idle false after draining")
	}
	// Awake: a loop woken by I/O tells the queue, so pushes do not ring.
	q.Awake()
	push(false)
	q.Drain(10, nil)
	if !q.Idle() {
		t.Fatal("Idle false")
	}
	push(true)
}

// TestExecQueueNoLostWakeup runs a poster against a loop that sleeps on a
// channel whenever Idle lets it: every posted function runs.
func TestExecQueueNoLostWakeup(t *testing.T) {
	var q ExecQueue
	q.Init(1 << 20)
	const n = 20000
	doorbell := make(chan struct{}, 1)
	ran := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for q.Drain(7, nil) {
			}
			if ran == n {
				return
			}
			if q.Idle() {
				<-doorbell
			}
		}
	}()
	for i := 0; i < n; i++ {
		wake, err := q.Execute(func() { ran++ })
		if err != nil {
			t.Fatal(err)
		}
		if wake {
			doorbell <- struct{}{}
		}
	}
	<-done
}

func TestExecQueueCloseAndMemory(t *testing.T) {
	var q ExecQueue
	q.Init(1 << 20)
	for i := 0; i < 5000; i++ {
		q.Post(func() {})
	}
	q.Drain(1<<20, nil)
	if q.buf != nil {
		t.Fatalf("ring of %d kept after a burst", len(q.buf))
	}
	q.Post(func() {})
	if n := q.Close(); n != 1 {
		t.Fatalf("Close dropped %d, want 1", n)
	}
	if _, err := q.Execute(func() {}); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Execute after Close: %v", err)
	}
	if _, err := q.Post(func() {}); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Post after Close: %v", err)
	}
}

func TestExecQueueConcurrentFIFOPerPoster(t *testing.T) {
	var q ExecQueue
	q.Init(1 << 20)
	const posters, each = 4, 1000
	last := make([]int, posters)
	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				q.Execute(func() {
					if last[p] != i-1 {
						t.Errorf("poster %d: %d after %d", p, i, last[p])
					}
					last[p] = i
				})
			}
		}()
	}
	wg.Wait()
	q.Drain(1<<30, nil)
	for p, l := range last {
		if l != each {
			t.Fatalf("poster %d: last %d", p, l)
		}
	}
}

func BenchmarkExecQueueExecuteDrain(b *testing.B) {
	var q ExecQueue
	q.Init(1 << 16)
	fn := func() {}
	b.ReportAllocs()
	for b.Loop() {
		q.Execute(fn)
		q.Drain(64, nil)
		q.Idle()
	}
}

func BenchmarkExecQueueBatch64(b *testing.B) {
	var q ExecQueue
	q.Init(1 << 16)
	fn := func() {}
	b.ReportAllocs()
	for b.Loop() {
		for range 64 {
			q.Execute(fn)
		}
		q.Drain(64, nil)
		q.Idle()
	}
}
