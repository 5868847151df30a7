package rawepoll

import (
	"container/heap"
	"sync/atomic"
	"time"
)

// Time events. Ceph keeps them in a multimap by deadline plus an id map for
// cancellation; here a binary heap ordered by (deadline, creation order)
// does both jobs: Stop only marks the event, and stopped events are dropped
// when they reach the top or, if they pile up (an idle timer re-armed on
// every message), by a rebuild once they outnumber the live ones.

const (
	timerPending int32 = iota
	timerStopped
	timerFired
)

// timeEvent is one AfterFunc. state moves once, from pending to stopped
// (Stop, any goroutine) or to fired (the loop), so exactly one side wins.
type timeEvent struct {
	center *center
	when   int64
	seq    uint64
	fn     func()
	conn   *conn // owner; its close stops the event
	state  atomic.Int32
	index  int // in the heap, -1 outside
}

// Stop implements engine.Timer.
func (t *timeEvent) Stop() bool {
	if t.state.CompareAndSwap(timerPending, timerStopped) {
		t.center.stopped.Add(1)
		return true
	}
	return false
}

// afterFunc schedules fn on the loop after d. It may be called from any
// goroutine: the event waits in newTimers until the loop merges it, so the
// heap itself is touched by the loop only.
func (c *center) afterFunc(d time.Duration, owner *conn, fn func()) *timeEvent {
	t := &timeEvent{center: c, when: c.now() + int64(max(d, 0)), fn: fn, conn: owner, index: -1}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		t.state.Store(timerStopped) // never runs; not counted, never in the heap
		return t
	}
	c.newTimers = append(c.newTimers, t)
	c.queued.Store(true)
	c.mu.Unlock()
	c.wakeup()
	return t
}

// mergeTimers moves newly scheduled events into the heap (loop only).
func (c *center) mergeTimers() {
	if !c.queued.Load() {
		return
	}
	c.mu.Lock()
	c.runTimer, c.newTimers = c.newTimers, c.runTimer[:0]
	c.mu.Unlock()
	for i, t := range c.runTimer {
		c.runTimer[i] = nil
		if t.state.Load() == timerStopped {
			c.stopped.Add(-1)
			continue
		}
		c.timerSeq++
		t.seq = c.timerSeq
		heap.Push(&c.timers, t)
	}
	c.compactTimers()
}

// compactTimers rebuilds the heap without stopped events once they are
// more than half of it, so memory follows live timers, not past ones.
func (c *center) compactTimers() {
	s := c.stopped.Load()
	if s < 64 || s*2 < int64(len(c.timers)) {
		return
	}
	live := c.timers[:0]
	var removed int64
	for _, t := range c.timers {
		if t.state.Load() == timerStopped {
			t.index = -1
			removed++
			continue
		}
		t.index = len(live)
		live = append(live, t)
	}
	clear(c.timers[len(live):])
	c.timers = live
	heap.Init(&c.timers)
	c.stopped.Add(-removed)
}

// processTimeEvents runs every event whose deadline has passed, earliest
// first. Events scheduled by a running event wait for the next turn, so a
// zero-delay AfterFunc re-arming itself cannot starve file events.
func (c *center) processTimeEvents() {
	if len(c.timers) == 0 {
		return
	}
	now := c.now()
	for len(c.timers) > 0 && c.timers[0].when <= now {
		t := heap.Pop(&c.timers).(*timeEvent)
		if !t.state.CompareAndSwap(timerPending, timerFired) {
			c.stopped.Add(-1)
			continue
		}
		if t.conn != nil && t.conn.isClosed() {
			continue
		}
		t.fn()
	}
}

// timerHeap orders events by deadline, then by creation.
type timerHeap []*timeEvent

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timeEvent)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
