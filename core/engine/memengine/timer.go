package memengine

import (
	"container/heap"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

type timerState uint8

const (
	timerPending timerState = iota // in the heap, waiting for its deadline
	timerQueued                    // due, on the run queue
	timerDone                      // ran, stopped, or its connection closed
)

// timer is one AfterFunc. The engine keeps all of them in one heap ordered
// by (deadline, creation), and asks the clock to wake it only for the
// earliest, so equal deadlines fire in creation order on any clock.
type timer struct {
	e        *Engine
	c        *conn
	fn       func()
	internal bool // engine work (a dial timeout): runs with the lock held
	when     time.Time
	seq      uint64
	index    int
	state    timerState
}

var _ engine.Timer = (*timer)(nil)

// Stop prevents fn from running if it has not started; see engine.Timer.
func (t *timer) Stop() bool {
	e := t.e
	e.mu.Lock()
	defer e.mu.Unlock()
	switch t.state {
	case timerPending:
		heap.Remove(&e.timers, t.index)
		t.state = timerDone
		delete(t.c.timers, t)
		e.arm()
		return true
	case timerQueued:
		// Already on the run queue: the loop skips it.
		t.state = timerDone
		delete(t.c.timers, t)
		return true
	}
	return false
}

// addTimer puts t in the heap with deadline now+d.
func (e *Engine) addTimer(t *timer, d time.Duration) {
	now := e.clock.Now()
	t.when = now.Add(max(d, 0))
	t.seq = e.timerSeq
	e.timerSeq++
	t.state = timerPending
	if t.c.timers == nil {
		t.c.timers = make(map[*timer]struct{})
	}
	t.c.timers[t] = struct{}{}
	heap.Push(&e.timers, t)
	if !t.when.After(now) {
		e.collectDue()
		return
	}
	e.arm()
}

// collectDue moves every timer whose deadline has come onto the run queue,
// in heap order, and re-arms the clock for the next one.
func (e *Engine) collectDue() {
	now := e.clock.Now()
	for len(e.timers) > 0 && !e.timers[0].when.After(now) {
		t := heap.Pop(&e.timers).(*timer)
		t.state = timerQueued
		e.push(task{t: t})
	}
	e.arm()
}

// arm makes sure exactly one clock wake-up is pending, for the earliest
// timer. A generation number discards wake-ups that fire after being
// replaced (a real timer can fire while being stopped).
func (e *Engine) arm() {
	if len(e.timers) == 0 || e.closed {
		if e.armStop != nil {
			e.armStop()
			e.armStop = nil
			e.armGen++
		}
		return
	}
	when := e.timers[0].when
	if e.armStop != nil && e.armedWhen.Equal(when) {
		return
	}
	if e.armStop != nil {
		e.armStop()
	}
	e.armGen++
	gen := e.armGen
	e.armedWhen = when
	e.armStop = e.clock.AfterFunc(when.Sub(e.clock.Now()), func() { e.clockFired(gen) })
}

func (e *Engine) clockFired(gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gen != e.armGen || e.stopped {
		return
	}
	e.armStop = nil
	e.collectDue()
}

// runTimer runs a due timer on the loop (lock held on entry and exit).
func (e *Engine) runTimer(t *timer) {
	if t.state != timerQueued {
		return
	}
	t.state = timerDone
	delete(t.c.timers, t)
	if t.c.closing || t.c.state == stateClosed {
		return
	}
	if t.internal {
		t.fn()
		return
	}
	e.unlocked(t.fn)
}

// dropTimers cancels every timer of a closing connection.
func (e *Engine) dropTimers(c *conn) {
	for t := range c.timers {
		if t.state == timerPending {
			heap.Remove(&e.timers, t.index)
		}
		t.state = timerDone
	}
	c.timers = nil
	e.arm()
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
