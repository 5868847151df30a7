package dpdkengine

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// worker is one loop (Ceph's EventCenter): it runs every callback of the
// connections it owns, one at a time, in this order each turn: I/O events
// of ready connections, then Execute functions and internal tasks in
// submission order, then due timers. gVisor's TCP processors and the port
// poller only mark connections ready and wake the loop; the loop does the
// reads, writes and callbacks itself (research/dpdk-gvisor.md: gVisor's
// processors cannot be run on the poll thread, so this is the closest to
// run-to-completion that stock gVisor allows).
type worker struct {
	e    *Engine
	wake chan struct{} // capacity 1: a pending wake-up

	mu      sync.Mutex
	ready   []*conn // connections with pending events, each once (conn.queued)
	tasks   []task  // Execute functions and internal tasks, in order
	nexec   int     // Execute functions in tasks (bounded by ExecuteQueueLimit)
	timers  timerHeap
	seq     uint64
	stopped bool

	running atomic.Pointer[conn] // conn whose callback runs now (Execute from the loop)
	done    chan struct{}
}

type task struct {
	c        *conn // nil for engine-level tasks
	fn       func()
	internal bool
}

func newWorker(e *Engine) *worker {
	return &worker{e: e, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// markReady queues c for event processing; called from gVisor's goroutines.
func (w *worker) markReady(c *conn) {
	if c.queued.Swap(true) {
		return
	}
	w.mu.Lock()
	w.ready = append(w.ready, c)
	w.mu.Unlock()
	w.kick()
}

// post queues an internal task (accept, open, close, connect). Internal
// tasks are bounded by the number of connections (each posts a fixed few).
func (w *worker) post(c *conn, fn func()) {
	w.mu.Lock()
	w.tasks = append(w.tasks, task{c: c, fn: fn, internal: true})
	w.mu.Unlock()
	w.kick()
}

// execute queues a user function, bounded by ExecuteQueueLimit.
func (w *worker) execute(c *conn, fn func()) error {
	w.mu.Lock()
	if w.nexec >= w.e.cfg.ExecuteQueueLimit {
		w.mu.Unlock()
		return engine.ErrExecuteQueueFull
	}
	w.nexec++
	w.tasks = append(w.tasks, task{c: c, fn: fn})
	w.mu.Unlock()
	w.kick()
	return nil
}

func (w *worker) addTimer(t *timer) {
	w.mu.Lock()
	w.seq++
	t.seq = w.seq
	heap.Push(&w.timers, t)
	w.mu.Unlock()
	w.kick()
}

func (w *worker) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.kick()
}

func (w *worker) run() {
	defer close(w.done)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	var ready []*conn
	var tasks []task
	var due []*timer
	for {
		w.mu.Lock()
		ready, w.ready = w.ready, ready[:0]
		tasks, w.tasks = w.tasks, tasks[:0]
		w.nexec = 0
		now := time.Now()
		due = due[:0]
		for len(w.timers) > 0 && !w.timers[0].when.After(now) {
			due = append(due, heap.Pop(&w.timers).(*timer))
		}
		var next time.Duration = -1
		if len(w.timers) > 0 {
			next = w.timers[0].when.Sub(now)
		}
		stopped := w.stopped
		w.mu.Unlock()

		for _, c := range ready {
			c.queued.Store(false)
			w.running.Store(c)
			c.process()
		}
		for i, t := range tasks {
			if t.c != nil {
				if t.c.isClosed() {
					tasks[i] = task{}
					continue
				}
				w.running.Store(t.c)
			}
			t.fn()
			if t.c != nil {
				t.c.afterCallback()
			}
			tasks[i] = task{}
		}
		for _, t := range due {
			if t.c.isClosed() || !t.state.CompareAndSwap(timerPending, timerFired) {
				continue
			}
			w.running.Store(t.c)
			t.fn()
			t.c.afterCallback()
		}
		w.running.Store(nil)
		clear(ready)

		if len(ready) > 0 || len(tasks) > 0 || len(due) > 0 {
			continue
		}
		if stopped {
			return
		}
		if next >= 0 {
			idle.Reset(next)
			select {
			case <-w.wake:
			case <-idle.C:
			}
			idle.Stop()
		} else {
			<-w.wake
		}
	}
}

const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// timer is one AfterFunc on a worker's heap.
type timer struct {
	c     *conn
	when  time.Time
	seq   uint64
	fn    func()
	state atomic.Int32
	index int // position in the worker's heap, -1 when not in it (w.mu)
}

// Stop reports whether it prevented fn from running. A stopped timer
// leaves the heap at once, so stopped timers cost no memory.
func (t *timer) Stop() bool {
	if !t.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	w := t.c.w
	w.mu.Lock()
	if t.index >= 0 {
		heap.Remove(&w.timers, t.index)
	}
	w.mu.Unlock()
	return true
}

// timerHeap orders by deadline, then creation (equal deadlines fire in
// creation order, as the contract asks).
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
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
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
