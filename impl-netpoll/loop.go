package netpollengine

import (
	"container/heap"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// loop is this engine's serialisation domain. netpoll runs OnRequest on
// goroutines from a pool, one task per connection at a time, not on its
// poller threads, so a "loop" here is (as in impl-goroutine) a token that at
// most one goroutine holds at a time, plus an ordered queue of functions
// that whoever holds the token drains before giving it back. Every callback
// of every connection in the domain runs while holding the token, which is
// what makes handler state lock-free. A connection dialed Near another
// shares its loop, so the two legs of a proxy session never run at the same
// time. Config.Workers sets netpoll's poller count (pollers.go), not the
// number of loops.
//
// netpoll's processing task takes the token directly (acquire) to run
// OnData on its own stack. Functions posted from outside (Execute, timers,
// OnReadEOF, OnClose, OnDrained) go to the queue; if
// nobody holds the token, post starts a short-lived drainer goroutine that
// takes it, empties the queue and exits, so an idle loop costs nothing.
type loop struct {
	eng *Engine

	mu      sync.Mutex
	cond    sync.Cond // signalled when the token is released
	running bool      // someone holds the token
	waiters int       // goroutines blocked in acquire
	q       fnQueue   // pending functions, FIFO

	// Time events, Ceph's EventCenter style: a heap ordered by deadline
	// (ties by creation order) and one runtime timer armed for the head,
	// so timers fire strictly in deadline order.
	timers   timerHeap
	timerSeq uint64
	rt       *time.Timer
	rtAt     time.Time
	rtPosted bool // a runTimers task is queued
	conns    int  // live connections using this loop
}

func newLoop(e *Engine) *loop {
	l := &loop{eng: e}
	l.cond.L = &l.mu
	return l
}

// acquire blocks until the caller holds the token. Only engine goroutines
// (netpoll tasks, accept and dial goroutines, drainers) call it, never a
// callback, so it cannot self-deadlock.
func (l *loop) acquire() {
	l.mu.Lock()
	for l.running {
		l.waiters++
		l.cond.Wait()
		l.waiters--
	}
	l.running = true
	l.mu.Unlock()
}

// release runs every queued function (including ones queued by those
// functions) and then gives the token back.
func (l *loop) release() {
	for {
		l.mu.Lock()
		fn, ok := l.q.pop()
		if !ok {
			l.running = false
			if l.waiters > 0 {
				l.cond.Signal()
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		fn()
	}
}

// post queues fn to run on the loop. limited posts (Execute) fail with
// ErrExecuteQueueFull at Config.ExecuteQueueLimit; engine-internal posts
// (OnClose, OnDrained, timer runs) are not limited because each is bounded
// by the number of connections and pending timers.
func (l *loop) post(fn func(), limited bool) error {
	l.mu.Lock()
	if limited && l.q.len() >= l.eng.cfg.ExecuteQueueLimit {
		l.mu.Unlock()
		return engine.ErrExecuteQueueFull
	}
	l.q.push(fn)
	if !l.running {
		l.running = true
		l.mu.Unlock()
		l.eng.gs.add()
		go func() {
			defer l.eng.gs.done()
			l.release()
		}()
		return nil
	}
	l.mu.Unlock()
	return nil
}

// attach and detach count the connections on the loop; when the last one
// leaves, pending timers are dropped so a closed connection's long timeout
// does not keep memory (or a runtime timer) alive.
func (l *loop) attach() {
	l.mu.Lock()
	l.conns++
	l.mu.Unlock()
}

func (l *loop) detach(c *conn) {
	l.mu.Lock()
	l.conns--
	if l.conns > 0 {
		// The loop lives on (a Near peer): drop only c's timers.
		kept := l.timers[:0]
		for _, t := range l.timers {
			if t.c == c {
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
	if l.conns == 0 {
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
	l.mu.Unlock()
}

// fnQueue is a FIFO ring of functions that grows by doubling; its length is
// bounded by ExecuteQueueLimit plus the engine's internal posts.
type fnQueue struct {
	buf  []func()
	head int
	n    int
}

func (q *fnQueue) len() int { return q.n }

func (q *fnQueue) push(fn func()) {
	if q.n == len(q.buf) {
		nb := make([]func(), max(8, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = fn
	q.n++
}

func (q *fnQueue) pop() (func(), bool) {
	if q.n == 0 {
		// Give a burst's memory back once the queue is empty.
		if len(q.buf) > 1024 {
			q.buf, q.head = nil, 0
		}
		return nil, false
	}
	fn := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return fn, true
}

// Timer states.
const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// addTimer schedules t and re-arms the runtime timer when t is the new head.
func (l *loop) addTimer(t *timer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == 0 {
		t.state.Store(timerStopped)
		return
	}
	l.timerSeq++
	t.seq = l.timerSeq
	heap.Push(&l.timers, t)
	l.armLocked()
}

// armLocked points the runtime timer at the earliest deadline.
func (l *loop) armLocked() {
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
func (l *loop) onTimer() {
	l.mu.Lock()
	if l.rtPosted || l.conns == 0 {
		l.mu.Unlock()
		return
	}
	l.rtPosted = true
	l.rtAt = time.Time{}
	l.mu.Unlock()
	_ = l.post(l.runTimers, false)
}

// runTimers runs, on the loop, every timer whose deadline has passed, in
// deadline order, then re-arms for the next one.
func (l *loop) runTimers() {
	l.mu.Lock()
	l.rtPosted = false
	now := time.Now()
	var due []*timer
	for len(l.timers) > 0 && !l.timers[0].at.After(now) {
		due = append(due, heap.Pop(&l.timers).(*timer))
	}
	l.armLocked()
	l.mu.Unlock()
	for _, t := range due {
		if t.c.isClosed() {
			t.state.CompareAndSwap(timerPending, timerStopped)
			continue
		}
		if t.state.CompareAndSwap(timerPending, timerFired) {
			t.fn()
		}
	}
}

type timerHeap []*timer

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
	t := x.(*timer)
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

// removeTimer takes a stopped timer out of the heap at once, so a handler
// that re-arms a timeout on every message does not pile up dead timers.
func (l *loop) removeTimer(t *timer) {
	l.mu.Lock()
	if t.idx >= 0 && t.idx < len(l.timers) && l.timers[t.idx] == t {
		heap.Remove(&l.timers, t.idx)
	}
	l.mu.Unlock()
}
