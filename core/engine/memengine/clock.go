package memengine

import (
	"container/heap"
	"slices"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/clock"
)

// Clock is the engine's time source. The engine keeps its own ordered timer
// heap and asks the clock for one wake-up at a time, so timer order never
// depends on how the clock schedules its callbacks.
type Clock = clock.Clock

// RealClock returns the wall clock (time.Now and time.AfterFunc).
func RealClock() Clock { return clock.Real }

// FakeEpoch is where a FakeClock made with a zero start begins: a fixed
// instant, so event logs that print times are reproducible.
var FakeEpoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// FakeClock is a Clock that moves only when Advance is called. Engines built
// on it register themselves, and Advance settles every such engine before it
// moves time and after each group of timers it fires, so a timer callback
// that arms a shorter timer still sees it fire within the same Advance, at
// its own deadline.
//
// Advance and Settle must be called from a test goroutine, never from a
// callback (they wait for the loop that runs callbacks).
type FakeClock struct {
	mu       sync.Mutex
	now      time.Time
	seq      uint64
	timers   fakeTimerHeap
	settlers map[uint64]func()
	nextID   uint64
}

// NewFakeClock returns a FakeClock reading start (FakeEpoch if start is zero).
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = FakeEpoch
	}
	return &FakeClock{now: start, settlers: make(map[uint64]func())}
}

// Now is the fake current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to be called by a later Advance that reaches
// now+d. Calls with equal deadlines happen in the order they were arranged.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{when: c.now.Add(max(d, 0)), seq: c.seq, f: f, index: -1}
	c.seq++
	heap.Push(&c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.index < 0 {
			return false
		}
		heap.Remove(&c.timers, t.index)
		return true
	}
}

// Pending is the number of clock callbacks not yet fired. Each engine arms
// at most one, for its earliest timer.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance settles the attached engines, then moves time forward by d, firing
// every due callback in deadline order (FIFO for equal deadlines). Time is
// set to each deadline as it fires and the engines are settled after it, so
// the callbacks' effects, including timers they arm, are complete before the
// next deadline. When Advance returns, time is now+d and all engines are
// settled.
func (c *FakeClock) Advance(d time.Duration) {
	c.settle()
	c.mu.Lock()
	target := c.now.Add(max(d, 0))
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].when.After(target) {
			c.now = target
			c.mu.Unlock()
			break
		}
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.settle()
	}
}

// attach registers settle to run around every fired deadline; the returned
// func detaches it.
func (c *FakeClock) attach(settle func()) (detach func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	c.settlers[id] = settle
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.settlers, id)
	}
}

func (c *FakeClock) settle() {
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.settlers))
	for id := range c.settlers {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	// Settle in attach order so runs with several engines stay reproducible.
	slices.Sort(ids)
	for _, id := range ids {
		c.mu.Lock()
		s := c.settlers[id]
		c.mu.Unlock()
		if s != nil {
			s()
		}
	}
}

type fakeTimer struct {
	when  time.Time
	seq   uint64
	f     func()
	index int
}

type fakeTimerHeap []*fakeTimer

func (h fakeTimerHeap) Len() int { return len(h) }
func (h fakeTimerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h fakeTimerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *fakeTimerHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *fakeTimerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
