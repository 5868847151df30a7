package gnetengine

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// A drain that ran exactly one full batch and then found the queue empty
// used to leave the loop marked woken with no drain queued, so no later
// Execute kicked it and the queue never ran again (CI: the kit's
// ExecuteConcurrent stuck at 2048 of 10,000 functions). loopkit.ExecQueue's
// handshake (Drain, then Idle before sleeping) now owns that; this keeps
// gnet's use of it honest. Block the loop
// with the first function, queue the rest of one batch behind it, let it
// all run, then check that one more function still runs.
func TestExecuteAfterFullBatch(t *testing.T) {
	c := openConn(t, engine.Config{Workers: 1})
	release, batchDone := make(chan struct{}), make(chan struct{})
	ran := 0 // touched only on the loop
	for i := 0; i < drainBatch; i++ {
		fn := func() {
			ran++
			if ran == drainBatch {
				close(batchDone)
			}
		}
		if i == 0 {
			fn = func() { <-release; ran++ }
		}
		if err := c.Execute(fn); err != nil {
			t.Fatalf("Execute %d: %v", i, err)
		}
	}
	close(release)
	enginetest.Wait(t, batchDone, "the first batch")

	last := make(chan struct{})
	if err := c.Execute(func() { close(last) }); err != nil {
		t.Fatalf("Execute after the batch: %v", err)
	}
	enginetest.Wait(t, last, "a function queued after a full batch")
}

// runDue re-arms the loop's wake-up for the deadline it read from the heap
// outside loopkit's lock, so it may pass a later deadline than one armed
// meanwhile: arm must keep the earlier one (the wake-up re-arms for the
// rest), or that timer waits for the later deadline.
func TestArmOnlyMovesEarlier(t *testing.T) {
	l := &loop{wake: time.AfterFunc(math.MaxInt64, func() {})}
	defer l.wake.Stop()
	at := loopkit.Now() + int64(time.Hour)
	for _, c := range []struct{ arm, want int64 }{
		{at, at},
		{at + int64(time.Hour), at}, // runDue's stale, later deadline
		{at - int64(time.Minute), at - int64(time.Minute)},
	} {
		l.arm(c.arm)
		if l.wakeAt != c.want {
			t.Fatalf("arm(%d): wake-up at %d, want %d", c.arm, l.wakeAt, c.want)
		}
	}
}

// A timer that comes due while the loop runs queued functions: the wake
// timer's event lands in the queue being drained, and must run the timers
// itself (it once only woke a loop that was awake already, so no drain
// task ran them and every timer of the loop waited forever).
func TestTimerDueDuringDrain(t *testing.T) {
	c := openConn(t, engine.Config{Workers: 1})
	ran := make(chan struct{})
	if err := c.Execute(func() {
		c.AfterFunc(0, func() { close(ran) })
		for c.loop.q.Len() == 0 { // until the wake timer has posted
			runtime.Gosched()
		}
	}); err != nil {
		t.Fatal(err)
	}
	enginetest.Wait(t, ran, "a timer that came due during a drain")
}
