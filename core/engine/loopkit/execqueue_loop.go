package loopkit

import "github.com/netmodels/netmodels/core/engine"

// ExecuteFor is Execute for a function that belongs to owner (a
// connection): it fails with engine.ErrClosed, queueing nothing, once
// owner is closed, checked under the queue's lock. An engine that marks
// the owner closed before it posts the owner's OnClose (Post takes the
// same lock) then has every accepted function queued ahead of OnClose and
// every later one refused, with no wrapper around fn (no allocation).
// owner.Closed must not take a lock held while pushing. Any goroutine.
func (q *ExecQueue) ExecuteFor(owner Owner, fn func()) (wake bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if owner.Closed() {
		return false, engine.ErrClosed
	}
	return q.pushLocked(fn, true)
}

// Wake and CloseIfIdle serve loops that wait in a system call
// (epoll_wait) rather than on the queue alone.

// Wake is a push with nothing to run, for a loop's wake-up sources other
// than the queue (a new earliest timer from another thread: Timers' arm).
// Like Execute it reports whether the caller must wake the loop, and
// marks the queue awake, so the loop's next Idle/sleep sees what the
// caller published before calling Wake. Any goroutine.
func (q *ExecQueue) Wake() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	wake := q.asleep && !q.closed
	q.asleep = false
	return wake
}

// CloseIfIdle is Close for a loop that is leaving: it closes the queue
// only when nothing is queued and reports whether it did. The loop drains
// until it returns true, so every function accepted before the close runs
// and none is dropped; later pushes fail with engine.ErrEngineClosed.
// Loop only.
func (q *ExecQueue) CloseIfIdle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 {
		return false
	}
	q.closed = true
	q.buf, q.head = nil, 0
	return true
}
