package gnetengine

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/netmodels/netmodels/core/engine"
)

// loop is the engine's state for one gnet event loop. gnet runs the loop's
// goroutine. The engine keeps its own ordered, bounded task queue and timer
// heap per loop because gnet's task queues are unbounded and may reorder
// (low-priority tasks spill between two queues), and the contract promises
// FIFO Execute and deadline-ordered timers.
type loop struct {
	e  *Engine
	el gnet.EventLoop

	mu         sync.Mutex
	inCallback bool
	dirty      []*conn // conns written to during the current callback
	tasks      []func()
	woken      bool // a drain task is queued in gnet
	timers     timerHeap
	timerSeq   uint64
	wake       *time.Timer // fires at the earliest timer deadline
	wakeAt     time.Time

	epfd  int   // gnet's epoll fd for this loop (gnetinternal.go)
	epErr error // why epfd is unknown: PauseRead then closes the connection
}

// callback runs fn as one callback on the loop (the caller is the loop's
// goroutine) and then flushes every connection written to meanwhile.
func (l *loop) callback(fn func()) {
	l.mu.Lock()
	nested := l.inCallback
	l.inCallback = true
	l.mu.Unlock()
	fn()
	if nested {
		return
	}
	for {
		l.mu.Lock()
		d := l.dirty
		l.dirty = nil
		if len(d) == 0 {
			l.inCallback = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		for _, c := range d {
			c.flush()
		}
	}
}

// execute queues fn on the loop, in submission order. The queue is bounded
// by Config.ExecuteQueueLimit.
func (l *loop) execute(fn func()) error {
	l.mu.Lock()
	if len(l.tasks) >= l.e.cfg.ExecuteQueueLimit {
		l.mu.Unlock()
		return engine.ErrExecuteQueueFull
	}
	l.tasks = append(l.tasks, fn)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		return l.kick()
	}
	return nil
}

// post queues fn past Config.ExecuteQueueLimit: for the engine's own
// events, at most one per connection (waitWritable), so bounded by them.
func (l *loop) post(fn func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, fn)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		_ = l.kick()
	}
}

// kick queues one drain task in gnet's own queue (an eventfd wake-up).
func (l *loop) kick() error {
	err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.drain()
		return nil
	}))
	if err != nil {
		l.mu.Lock()
		l.woken = false
		l.tasks = nil
		l.mu.Unlock()
		return engine.ErrEngineClosed
	}
	return nil
}

// drainBatch bounds the tasks one drain runs before it yields to I/O.
const drainBatch = 1024

// drain runs the queued tasks and the due timers (loop only). Tasks queued
// while draining run in the same pass, up to drainBatch, so a task that
// re-queues itself cannot starve I/O. It leaves either a new drain queued
// (tasks remain) or woken cleared (none do): a woken flag left set with no
// drain queued would make every later execute skip its kick, and the
// queue would never run again.
func (l *loop) drain() {
	l.mu.Lock()
	for done := 0; done < drainBatch && len(l.tasks) > 0; done++ {
		fn := l.tasks[0]
		l.tasks[0] = nil
		l.tasks = l.tasks[1:]
		l.mu.Unlock()
		l.callback(fn)
		l.mu.Lock()
	}
	again := len(l.tasks) > 0
	l.woken = again
	l.mu.Unlock()
	if again {
		_ = l.kick()
	}
	l.runTimers()
}

// markDirty records that c has queued bytes to flush. It reports false when
// the loop is not inside a callback, so the caller must schedule a flush.
// Called with l.mu held.
func (l *loop) markDirty(c *conn) bool {
	if !l.inCallback {
		return false
	}
	l.dirty = append(l.dirty, c)
	return true
}

const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

type timer struct {
	l     *loop
	fn    func()
	at    time.Time
	seq   uint64
	idx   int
	state atomic.Int32
}

// Stop reports whether it prevented fn from running; on the loop a true
// answer is final because due timers run on the loop too.
func (t *timer) Stop() bool {
	if !t.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	if t.l != nil {
		t.l.mu.Lock()
		if t.idx >= 0 {
			heap.Remove(&t.l.timers, t.idx)
		}
		t.l.mu.Unlock()
	}
	return true
}

func (l *loop) addTimer(t *timer) {
	l.mu.Lock()
	l.timerSeq++
	t.seq = l.timerSeq
	heap.Push(&l.timers, t)
	rearm := l.wake == nil || t.at.Before(l.wakeAt)
	if rearm {
		l.armLocked(t.at)
	}
	l.mu.Unlock()
}

// armLocked sets the one runtime timer to the earliest deadline.
func (l *loop) armLocked(at time.Time) {
	if l.wake != nil {
		l.wake.Stop()
	}
	l.wakeAt = at
	l.wake = time.AfterFunc(time.Until(at), func() { _ = l.execute(func() {}) })
}

// runTimers runs every due timer in deadline order (ties: creation order).
func (l *loop) runTimers() {
	now := time.Now()
	for {
		l.mu.Lock()
		if len(l.timers) == 0 {
			l.wake, l.wakeAt = nil, time.Time{}
			l.mu.Unlock()
			return
		}
		t := l.timers[0]
		if t.at.After(now) {
			if l.wake == nil || !l.wakeAt.Equal(t.at) {
				l.armLocked(t.at)
			}
			l.mu.Unlock()
			return
		}
		heap.Pop(&l.timers)
		l.mu.Unlock()
		if t.state.CompareAndSwap(timerPending, timerFired) {
			l.callback(t.fn)
		}
	}
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *timerHeap) Push(x any)   { t := x.(*timer); t.idx = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.idx = -1
	*h = old[:len(old)-1]
	return t
}
