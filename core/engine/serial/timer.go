package serial

import (
	"container/heap"
	"sync/atomic"
	"time"
)

// Timer states.
const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// Timer is one AfterFunc; it implements engine.Timer. Its state moves once,
// from pending to fired (the loop is about to run fn) or to stopped (Stop
// won, or the owner closed); that single compare-and-swap is what makes
// Stop's answer exact.
type Timer struct {
	l     *Loop
	owner Owner
	fn    func()
	at    time.Time
	seq   uint64 // creation order, breaks deadline ties
	idx   int    // position in the loop's heap, -1 when out of it
	state atomic.Int32
}

// Stop reports whether it prevented fn from running. On the loop a true
// result is final: fn runs on the loop too, so it cannot be half-started.
func (t *Timer) Stop() bool {
	if !t.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	t.l.removeTimer(t)
	return true
}

// AfterFunc runs fn on the loop after at least d, unless o is closed by
// then (or already is: the timer is returned stopped).
func (l *Loop) AfterFunc(o Owner, d time.Duration, fn func()) *Timer {
	t := &Timer{l: l, owner: o, fn: fn, at: time.Now().Add(d), idx: -1}
	if o.Closed() {
		t.state.Store(timerStopped)
		return t
	}
	l.addTimer(t)
	return t
}

// PendingTimers is the number of timers in the heap (stopped ones leave it
// at once).
func (l *Loop) PendingTimers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.timers)
}

// addTimer schedules t and re-arms the runtime timer when t is the new head.
func (l *Loop) addTimer(t *Timer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owners == 0 {
		t.state.Store(timerStopped)
		return
	}
	l.timerSeq++
	t.seq = l.timerSeq
	heap.Push(&l.timers, t)
	l.armLocked()
}

// armLocked points the runtime timer at the earliest deadline.
func (l *Loop) armLocked() {
	if len(l.timers) == 0 || l.rtPosted {
		return
	}
	at := l.timers[0].at
	if l.rt != nil && !l.rtAt.IsZero() && !at.Before(l.rtAt) {
		return // already armed for this or an earlier deadline
	}
	l.rtAt = at
	d := time.Until(at)
	if l.rt == nil {
		l.rt = time.AfterFunc(d, l.onTimer)
	} else {
		l.rt.Reset(d)
	}
}

// onTimer runs on the runtime's timer goroutine: hand the work to the loop.
func (l *Loop) onTimer() {
	l.mu.Lock()
	if l.rtPosted || l.owners == 0 {
		l.mu.Unlock()
		return
	}
	l.rtPosted = true
	l.rtAt = time.Time{}
	l.mu.Unlock()
	l.Post(l.runTimers)
}

// runTimers runs, on the loop, every timer whose deadline has passed, in
// deadline order, then re-arms for the next one.
func (l *Loop) runTimers() {
	l.mu.Lock()
	l.rtPosted = false
	now := time.Now()
	var due []*Timer
	for len(l.timers) > 0 && !l.timers[0].at.After(now) {
		due = append(due, heap.Pop(&l.timers).(*Timer))
	}
	l.armLocked()
	l.mu.Unlock()
	for _, t := range due {
		if t.owner.Closed() {
			t.state.CompareAndSwap(timerPending, timerStopped)
			continue
		}
		if t.state.CompareAndSwap(timerPending, timerFired) {
			t.fn()
		}
	}
}

// removeTimer takes a stopped timer out of the heap at once, so a handler
// that re-arms a timeout on every message does not pile up dead timers.
func (l *Loop) removeTimer(t *Timer) {
	l.mu.Lock()
	if t.idx >= 0 && t.idx < len(l.timers) && l.timers[t.idx] == t {
		heap.Remove(&l.timers, t.idx)
	}
	l.mu.Unlock()
}

// dropTimersLocked drops o's timers; the loop lives on for a Near peer.
func (l *Loop) dropTimersLocked(o Owner) {
	kept := l.timers[:0]
	for _, t := range l.timers {
		if t.owner == o {
			t.state.CompareAndSwap(timerPending, timerStopped)
			t.idx = -1
			continue
		}
		kept = append(kept, t)
	}
	clear(l.timers[len(kept):])
	l.timers = kept
	for i, t := range kept {
		t.idx = i
	}
	heap.Init(&l.timers)
}

// dropAllTimersLocked drops every timer and stops the runtime timer.
func (l *Loop) dropAllTimersLocked() {
	for _, t := range l.timers {
		t.state.CompareAndSwap(timerPending, timerStopped)
		t.idx = -1
	}
	l.timers = nil
	if l.rt != nil {
		l.rt.Stop()
	}
	l.rtAt = time.Time{}
}

type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}
