package serial

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// owner is a test connection.
type owner struct{ closed atomic.Bool }

func (o *owner) Closed() bool { return o.closed.Load() }

// Timers fire in deadline order; exactly equal deadlines fire in creation
// order (spec/engine.md §6).
func TestTimerOrder(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	o := &owner{}
	l.Attach()
	var got []int
	base := loopkit.Now() - int64(time.Hour) // all due
	// Deadlines: index i has slot i%4 (so slots repeat, exact ties), and
	// slots are created out of order.
	slots := []int{3, 1, 2, 0}
	l.Acquire() // nothing runs before the whole batch is in the heap
	for i := 0; i < 40; i++ {
		l.afterAt(o, base+int64(slots[i%4])*int64(time.Millisecond), func() { got = append(got, i) })
	}
	l.runTimers()
	l.Release()
	if len(got) != 40 {
		t.Fatalf("%d of 40 fired", len(got))
	}
	prevSlot, prev := -1, -1
	for _, i := range got {
		s := slots[i%4]
		switch {
		case s < prevSlot:
			t.Fatalf("order %v: deadline order broken", got)
		case s == prevSlot && i < prev:
			t.Fatalf("order %v: tie not in creation order", got)
		}
		prevSlot, prev = s, i
	}
	l.Detach(o)
	waitGroup(t, &g)
}

// Real timers through the runtime timer fire in deadline order.
func TestAfterFuncFires(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	o := &owner{}
	l.Attach()
	done := make(chan struct{})
	var got []int
	for i, d := range []time.Duration{30, 10, 20} {
		l.AfterFunc(o, d*time.Millisecond, func() {
			got = append(got, i)
			if len(got) == 3 {
				close(done)
			}
		})
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timers never fired")
	}
	if got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Fatalf("fired %v, want [1 2 0]", got)
	}
	l.Detach(o)
	waitGroup(t, &g)
}

// A timer armed for an earlier deadline than the runtime timer's, while
// a run is in progress or after the head was stopped, still fires: the
// runtime timer follows the heap's head.
func TestAfterFuncEarlierReArms(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	o := &owner{}
	l.Attach()
	late := l.AfterFunc(o, time.Hour, func() { t.Error("stopped timer ran") })
	fired := make(chan string, 2)
	l.AfterFunc(o, 10*time.Millisecond, func() {
		fired <- "first"
		// Armed from inside a run, already due: runs on the next turn.
		l.AfterFunc(o, 0, func() { fired <- "chained" })
	})
	late.Stop()
	for _, want := range []string{"first", "chained"} {
		select {
		case got := <-fired:
			if got != want {
				t.Fatalf("fired %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q never fired", want)
		}
	}
	l.Detach(o)
	waitGroup(t, &g)
}

// Stop prevents fn, reports it exactly, and takes the timer out of the
// heap at once; a Stop from an earlier timer of the same batch is final.
func TestTimerStop(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	o := &owner{}
	l.Attach()
	for i := 0; i < 1000; i++ {
		if !l.AfterFunc(o, time.Hour, func() { t.Error("stopped timer ran") }).Stop() {
			t.Fatal("Stop of a pending timer returned false")
		}
	}
	if n := l.PendingTimers(); n != 0 {
		t.Fatalf("%d stopped timers left in the heap", n)
	}

	var ranB bool
	var stopB bool
	// Hold the token while building the batch: b is already due, so its
	// runtime timer may post a run at once; that run must wait until a is
	// in the heap too, or b would fire alone before a can stop it.
	l.Acquire()
	b := l.AfterFunc(o, -time.Millisecond, func() { ranB = true })                 // due
	a := l.afterAt(o, loopkit.Now()-int64(time.Hour), func() { stopB = b.Stop() }) // due before b: same batch
	l.runTimers()
	l.Release()
	if !stopB || ranB {
		t.Fatalf("Stop in the same batch: returned %v, b ran %v", stopB, ranB)
	}
	if a.Stop() {
		t.Fatal("Stop after fn ran returned true")
	}
	l.Detach(o)
	waitGroup(t, &g)
}

// Timers of a closed owner never run; Detach drops the owner's timers and
// keeps a Near peer's; the last Detach stops the runtime timer and later
// timers are refused.
func TestTimerOwners(t *testing.T) {
	var g loopkit.Group
	l := New(&g, 8)
	a, b := &owner{}, &owner{}
	l.Attach()
	l.Attach()
	ranA := false
	l.Acquire() // the runtime timer's run waits until a is closed
	l.AfterFunc(a, -time.Millisecond, func() { ranA = true })
	a.closed.Store(true)
	l.runTimers()
	l.Release()
	if ranA {
		t.Fatal("timer of a closed owner ran")
	}
	if l.AfterFunc(a, time.Hour, func() {}).Stop() {
		t.Fatal("AfterFunc on a closed owner returned a pending timer")
	}

	c := &owner{} // a live owner sharing the loop with b (Near)
	l.Attach()
	for i := 0; i < 10; i++ {
		l.AfterFunc(c, time.Hour, func() {})
	}
	l.AfterFunc(b, time.Hour, func() {})
	if n := l.PendingTimers(); n != 11 {
		t.Fatalf("%d timers pending, want 11", n)
	}
	l.Detach(a)
	l.Detach(c) // c's timers go with it, b's stay
	if n := l.PendingTimers(); n != 1 {
		t.Fatalf("%d timers after c detached, want b's 1", n)
	}
	l.Detach(b)
	if n := l.PendingTimers(); n != 0 {
		t.Fatalf("%d timers after the last detach", n)
	}
	l.tmu.Lock()
	armed := l.rtAt != noDeadline
	l.tmu.Unlock()
	if armed {
		t.Fatal("runtime timer still armed after the last detach")
	}
	if l.AfterFunc(&owner{}, time.Hour, func() {}).Stop() {
		t.Fatal("a loop with no owner accepted a timer")
	}
	waitGroup(t, &g)
}
