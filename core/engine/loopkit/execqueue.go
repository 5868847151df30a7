package loopkit

import (
	"sync"

	"github.com/netmodels/netmodels/core/engine"
)

// ExecQueue is one loop's ordered queue of functions: the contract's
// Execute (bounded) and the engine's own events (Post), in one FIFO, with
// the wake-up handshake between posters and the loop written once.
//
// The handshake: the queue is either awake (the loop will look at it again
// before it sleeps) or asleep (the loop declared, through Idle, that it
// found the queue empty and may sleep). A push onto an asleep queue returns
// wake=true exactly once and makes it awake: the caller must then wake the
// loop (ring its doorbell, schedule a drain task, start a drainer). The
// loop may stop only when Idle returns true; Idle re-checks the queue under
// the same mutex as the pushes, so a push racing the loop's decision to
// sleep is either seen by Idle or returns wake=true. No wake-up is lost
// and none is duplicated. A new queue is asleep.
//
// Execute, Post, Len and Close may be called from any goroutine; Drain,
// Idle and Awake only by the loop. Call Init before use.
type ExecQueue struct {
	mu     sync.Mutex
	limit  int
	buf    []func() // ring
	head   int
	n      int
	asleep bool
	closed bool
}

// shrinkAbove is the ring size kept across bursts; a larger ring is given
// back once the queue drains empty.
const shrinkAbove = 1024

// Init sets the Execute bound (Config.ExecuteQueueLimit).
func (q *ExecQueue) Init(limit int) {
	q.limit = limit
	q.asleep = true
}

// Execute queues fn, the contract's Execute. It fails with
// engine.ErrExecuteQueueFull, queueing nothing, when the queue already
// holds the limit (posted functions included), and with
// engine.ErrEngineClosed after Close. There is no fallback: a refused fn
// is not run later by any other means. wake: see the type's doc.
func (q *ExecQueue) Execute(fn func()) (wake bool, err error) {
	return q.push(fn, true)
}

// Post queues one of the engine's own events (OnClose, OnDrained, a flush,
// a timer run). It is not bounded by the Execute limit: the engine bounds
// posts by construction (at most a few per connection or timer in flight),
// and an event must not be lost to a full Execute queue. It fails only
// with engine.ErrEngineClosed after Close.
func (q *ExecQueue) Post(fn func()) (wake bool, err error) {
	return q.push(fn, false)
}

func (q *ExecQueue) push(fn func(), limited bool) (wake bool, err error) {
	q.mu.Lock()
	wake, err = q.pushLocked(fn, limited)
	q.mu.Unlock()
	return wake, err
}

func (q *ExecQueue) pushLocked(fn func(), limited bool) (wake bool, err error) {
	if q.closed {
		return false, engine.ErrEngineClosed
	}
	if limited && q.n >= q.limit {
		return false, engine.ErrExecuteQueueFull
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = fn
	q.n++
	wake = q.asleep
	q.asleep = false
	return wake, nil
}

func (q *ExecQueue) grow() {
	nb := make([]func(), max(8, 2*len(q.buf)))
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

// Len is the number of queued functions.
func (q *ExecQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Drain runs up to batch queued functions in order, including ones they
// queue, through run (nil: call fn directly), and reports whether more
// remain. It never changes the handshake state: a loop that gets more=true
// still owes the queue another Drain (the wake that brought it here is
// spent), and a loop that gets more=false must call Idle before it stops.
// Loop only; no allocation.
func (q *ExecQueue) Drain(batch int, run func(fn func())) (more bool) {
	for i := 0; i < batch; i++ {
		q.mu.Lock()
		if q.n == 0 {
			q.emptied()
			q.mu.Unlock()
			return false
		}
		fn := q.buf[q.head]
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		if q.n == 0 {
			q.emptied()
		}
		q.mu.Unlock()
		if run != nil {
			run(fn)
		} else {
			fn()
		}
	}
	q.mu.Lock()
	more = q.n > 0
	q.mu.Unlock()
	return more
}

// emptied gives a burst's ring back.
func (q *ExecQueue) emptied() {
	q.head = 0
	if len(q.buf) > shrinkAbove {
		q.buf = nil
	}
}

// Idle is the loop's "about to sleep" step: it returns false if anything
// is queued (drain again), else marks the queue asleep, so the next push
// reports wake=true, and returns true (the loop may sleep or stop).
func (q *ExecQueue) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 {
		return false
	}
	q.asleep = true
	return true
}

// Awake tells the queue the loop is running again without having been
// woken through it (it woke for I/O or a timer), so pushes until its next
// Idle need not wake it. Optional: without it a push costs one spare
// wake-up.
func (q *ExecQueue) Awake() {
	q.mu.Lock()
	q.asleep = false
	q.mu.Unlock()
}

// Close refuses later pushes with engine.ErrEngineClosed and drops what
// is queued; it returns how many functions it dropped.
func (q *ExecQueue) Close() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	q.closed = true
	q.buf, q.head, q.n = nil, 0, 0
	return n
}
