package memengine

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/clock"
	"github.com/netmodels/netmodels/core/engine/loopkit"
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
// its own deadline. Its callbacks wait in a loopkit.Timers heap (deadlines
// in nanoseconds since start), the one timer heap every engine uses.
//
// Advance and Settle must be called from a test goroutine, never from a
// callback (they wait for the loop that runs callbacks).
type FakeClock struct {
	mu       sync.Mutex
	start    time.Time
	now      int64 // nanoseconds since start
	timers   loopkit.Timers
	settlers map[uint64]func()
	nextID   uint64
}

// NewFakeClock returns a FakeClock reading start (FakeEpoch if start is zero).
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = FakeEpoch
	}
	c := &FakeClock{start: start, settlers: make(map[uint64]func())}
	c.timers.Init(nil)
	return c
}

// Now is the fake current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start.Add(time.Duration(c.now))
}

// AfterFunc arranges for f to be called by a later Advance that reaches
// now+d. Calls with equal deadlines happen in the order they were arranged.
// The returned stop reports whether it prevented f.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock() // held across Add: creation order is call order
	return c.timers.Add(nil, addSat(c.now, d), f).Stop
}

// Pending is the number of clock callbacks not yet fired. Each engine arms
// at most one, for its earliest timer.
func (c *FakeClock) Pending() int { return c.timers.Len() }

// Advance settles the attached engines, then moves time forward by d, firing
// every due callback in deadline order (FIFO for equal deadlines). Time is
// set to each deadline as it fires and the engines are settled after it, so
// the callbacks' effects, including timers they arm, are complete before the
// next deadline. When Advance returns, time is now+d and all engines are
// settled.
func (c *FakeClock) Advance(d time.Duration) {
	c.settle()
	c.mu.Lock()
	target := addSat(c.now, d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.timers.PopDue(target)
		if t == nil {
			c.now = target
			c.mu.Unlock()
			break
		}
		c.now = max(c.now, t.Deadline())
		c.mu.Unlock()
		if f := t.Take(); f != nil {
			f()
		}
		c.settle()
	}
}

// addSat is now+d for a deadline, with a negative d counting as zero and
// a sum past the int64 range saturating.
func addSat(now int64, d time.Duration) int64 {
	if d <= 0 {
		return now
	}
	if now > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return now + int64(d)
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
