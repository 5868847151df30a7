package serial

import (
	"math"
	"time"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// noDeadline marks the runtime timer as not armed.
const noDeadline = math.MaxInt64

// AfterFunc runs fn on the loop after at least d, unless o is closed by
// then (or already is, or the loop has no owner: the timer is returned
// stopped).
func (l *Loop) AfterFunc(o loopkit.Owner, d time.Duration, fn func()) *loopkit.Timer {
	return l.afterAt(o, loopkit.Deadline(d), fn)
}

func (l *Loop) afterAt(o loopkit.Owner, at int64, fn func()) *loopkit.Timer {
	if l.owners.Load() == 0 {
		return new(loopkit.Timer) // Stop reports false: it never runs
	}
	return l.timers.Add(o, at, fn)
}

// PendingTimers is the number of timers in the heap (stopped ones leave it
// at once).
func (l *Loop) PendingTimers() int { return l.timers.Len() }

// Attach and Detach count the owners (connections) on the loop. Detach
// drops o's pending timers, so a closed connection's long timeout does not
// keep memory alive; when the last owner leaves, the runtime timer is
// stopped too, and a Loop with no owner refuses new timers.
func (l *Loop) Attach() {
	l.tmu.Lock()
	l.owners.Add(1)
	l.tmu.Unlock()
}

// Detach: see Attach.
func (l *Loop) Detach(o loopkit.Owner) {
	l.timers.Drop(o) // not under tmu: the heap takes tmu through arm
	l.tmu.Lock()
	// Under tmu, so an Attach and AfterFunc racing us re-arm after the Stop.
	if l.owners.Add(-1) == 0 && l.rt != nil {
		l.rt.Stop()
		l.rtAt = noDeadline
	}
	l.tmu.Unlock()
}

// arm points the runtime timer at deadline at if that is earlier than
// what it is armed for. The heap calls it, under its mutex, when its head
// moves earlier; runTimers calls it for the next deadline. Nothing is
// armed while a runTimers task is queued: it re-arms when it runs.
func (l *Loop) arm(at int64) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if l.rtPosted || at >= l.rtAt {
		return
	}
	l.rtAt = at
	d := time.Duration(at - loopkit.Now())
	if l.rt == nil {
		l.rt = time.AfterFunc(d, l.onTimer)
	} else {
		l.rt.Reset(d)
	}
}

// onTimer runs on the runtime's timer goroutine: hand the work to the loop.
func (l *Loop) onTimer() {
	l.tmu.Lock()
	l.rtAt = noDeadline // fired: not armed any more
	if l.rtPosted || l.owners.Load() == 0 {
		l.tmu.Unlock()
		return
	}
	l.rtPosted = true
	l.tmu.Unlock()
	l.Post(l.runTimers)
}

// runTimers runs, on the loop, every timer whose deadline has passed, in
// deadline order (a timer stopped by an earlier one of the same batch does
// not run), then re-arms for the next one. A timer armed meanwhile for an
// earlier deadline re-armed the runtime timer itself (arm keeps the
// earlier of the two).
func (l *Loop) runTimers() {
	l.tmu.Lock()
	l.rtPosted = false
	l.tmu.Unlock()
	l.timers.RunDue(loopkit.Now(), nil)
	if at, ok := l.timers.Next(); ok {
		l.arm(at)
	}
}
