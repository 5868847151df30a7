package loopkit

import "sync"

// PendingTimer is an engine.Timer set before its loop is known (a
// connection still dialing, whose loop the library picks on connect):
// Start, run once the loop is known, adds it to that loop's Timers unless
// Stop came first. Stop is exact either way. Any goroutine.
type PendingTimer struct {
	mu      sync.Mutex
	t       *Timer
	stopped bool
}

// Start schedules fn at deadline at for owner on ts, as Timers.Add does,
// unless t was stopped first. Call it once.
func (t *PendingTimer) Start(ts *Timers, owner Owner, at int64, fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.t = ts.Add(owner, at, fn)
	}
}

// Stop implements engine.Timer: after Start as Timer.Stop; before it,
// Start will schedule nothing, and Stop reports whether this call was the
// first.
func (t *PendingTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t != nil {
		return t.t.Stop()
	}
	was := t.stopped
	t.stopped = true
	return !was
}
