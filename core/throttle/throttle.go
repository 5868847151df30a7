// Package throttle holds Ceph-style count and byte throttles (Ceph's
// Throttle, used by the messenger's policy and dispatch-queue throttlers)
// that never poll: a caller that cannot get capacity registers a waiter, and
// the Put that frees enough capacity grants it and calls it back at once on
// the caller's loop (Ceph's AsyncConnection re-checks on a 1 ms timer).
//
// Limits: the amount held never exceeds Max, with one exception: a single
// request larger than Max is admitted when nothing else is held, so one
// oversized message can pass alone instead of blocking forever (Ceph admits
// it when the current count is at or below max). Max 0 means unlimited.
//
// Fairness: waiters are granted in FIFO order, and TryGet fails while anyone
// waits, so a stream of small requests cannot starve a large one.
package throttle

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a throttle's counters.
type Stats struct {
	Max       int64
	Current   int64
	Peak      int64 // highest Current seen
	Gets      uint64
	Puts      uint64
	Waits     uint64        // requests that had to wait
	WaitTotal time.Duration // sum of completed waits
	Waiting   int           // waiters now
}

// Throttle limits a count (messages) or an amount (bytes).
type Throttle struct {
	name string
	now  func() time.Time
	// OnWait, if set, observes every completed wait (for histograms).
	onWait func(time.Duration)
	// onWakeup, if set, observes release → callback running (see
	// WithWakeupObserver).
	onWakeup func(time.Duration)

	mu      sync.Mutex
	max     int64
	cur     int64
	peak    int64
	head    *Waiter
	tail    *Waiter
	waiting int
	gets    uint64
	puts    uint64
	waits   uint64
	waitNs  int64
}

// Option configures a Throttle.
type Option func(*Throttle)

// WithClock sets the clock used to time waits (default time.Now).
func WithClock(now func() time.Time) Option { return func(t *Throttle) { t.now = now } }

// WithWaitObserver calls fn with the duration of every completed wait.
func WithWaitObserver(fn func(time.Duration)) Option { return func(t *Throttle) { t.onWait = fn } }

// WithWakeupObserver calls fn with the wake-up latency of every granted
// waiter: from the release that granted it (the Put, SetMax or Cancel that
// made room) to its callback starting on the waiter's loop. That is the
// delay this throttle adds over the wait itself, where Ceph's reader would
// re-check on its 1 ms timer. fn runs on the waiter's loop.
func WithWakeupObserver(fn func(time.Duration)) Option {
	return func(t *Throttle) { t.onWakeup = fn }
}

// New returns a throttle named name with limit max (0: unlimited).
func New(name string, max int64, opts ...Option) *Throttle {
	t := &Throttle{name: name, max: max, now: time.Now}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Name is the throttle's name.
func (t *Throttle) Name() string { return t.name }

// Max is the limit (0: unlimited).
func (t *Throttle) Max() int64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.max
}

// Current is the amount held now.
func (t *Throttle) Current() int64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}

// fits reports whether n can be taken now (lock held).
func (t *Throttle) fits(n int64) bool {
	if t.max <= 0 || n <= 0 {
		return true
	}
	if n > t.max {
		return t.cur == 0 // one oversized request alone
	}
	return t.cur+n <= t.max
}

func (t *Throttle) take(n int64) {
	t.cur += n
	t.gets++
	if t.cur > t.peak {
		t.peak = t.cur
	}
}

// Get takes n if it fits now and nobody is waiting; it never blocks. A nil
// throttle always succeeds.
func (t *Throttle) Get(n int64) bool {
	if t == nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head != nil || !t.fits(n) {
		return false
	}
	t.take(n)
	return true
}

// Put returns n and grants waiters that now fit, in order. Their callbacks
// run through their executors after the lock is released.
func (t *Throttle) Put(n int64) {
	if t == nil || n == 0 {
		return
	}
	t.mu.Lock()
	t.cur -= n
	if t.cur < 0 {
		t.cur = 0 // a Put without a Get is a caller bug; do not go negative
	}
	t.puts++
	granted := t.grantLocked()
	t.mu.Unlock()
	t.notify(granted)
}

// SetMax changes the limit and grants waiters that now fit.
func (t *Throttle) SetMax(max int64) {
	t.mu.Lock()
	t.max = max
	granted := t.grantLocked()
	t.mu.Unlock()
	t.notify(granted)
}

// Waiter states.
const (
	waitPending int32 = iota
	waitGranted
	waitDone      // the callback consumed the grant
	waitCancelled // cancelled; a grant, if any, was returned
)

// Waiter is a registered request. Exactly one of these happens: the
// callback runs holding the grant (and the caller must Put it later), or
// Cancel returns the capacity.
type Waiter struct {
	t     *Throttle
	n     int64
	exec  func(func()) error
	fn    func()
	start time.Time
	// released is when the grant was handed to exec; written before exec,
	// read in run, which exec orders after it.
	released time.Time
	state    atomic.Int32
	next     *Waiter
	prev     *Waiter
	queued   bool
}

// GetOrWait takes n now and returns (nil, true), or registers a waiter and
// returns it with false. When capacity frees up, n is taken on the waiter's
// behalf and exec(fn) is called — exec is the caller's loop executor
// (engine.Conn.Execute) — so fn runs on the caller's loop owning n. If exec
// fails (the connection is gone) the capacity is returned at once. A nil
// throttle always succeeds.
func (t *Throttle) GetOrWait(n int64, exec func(func()) error, fn func()) (*Waiter, bool) {
	if t == nil {
		return nil, true
	}
	t.mu.Lock()
	if t.head == nil && t.fits(n) {
		t.take(n)
		t.mu.Unlock()
		return nil, true
	}
	w := &Waiter{t: t, n: n, exec: exec, fn: fn, start: t.now(), queued: true}
	if t.tail == nil {
		t.head, t.tail = w, w
	} else {
		w.prev = t.tail
		t.tail.next = w
		t.tail = w
	}
	t.waiting++
	t.waits++
	t.mu.Unlock()
	return w, false
}

func (t *Throttle) unlink(w *Waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		t.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		t.tail = w.prev
	}
	w.next, w.prev, w.queued = nil, nil, false
	t.waiting--
}

// grantLocked takes capacity for waiters from the head while they fit.
func (t *Throttle) grantLocked() []*Waiter {
	var out []*Waiter
	for w := t.head; w != nil && t.fits(w.n); w = t.head {
		t.unlink(w)
		t.take(w.n)
		w.state.Store(waitGranted)
		out = append(out, w)
	}
	return out
}

func (t *Throttle) notify(ws []*Waiter) {
	if len(ws) == 0 {
		return
	}
	// One release instant for all it grants: a later waiter's wake-up
	// includes handing the earlier ones to their loops.
	released := t.now()
	for _, w := range ws {
		d := released.Sub(w.start)
		w.released = released
		t.mu.Lock()
		t.waitNs += int64(d)
		t.mu.Unlock()
		if t.onWait != nil {
			t.onWait(d)
		}
		w := w
		if err := w.exec(w.run); err != nil {
			w.Cancel()
		}
	}
}

func (w *Waiter) run() {
	if w.state.CompareAndSwap(waitGranted, waitDone) {
		if obs := w.t.onWakeup; obs != nil {
			obs(w.t.now().Sub(w.released))
		}
		w.fn()
	}
}

// Cancel withdraws the request: a pending waiter is removed; a granted one
// whose callback has not run yet gives its capacity back. It reports whether
// the callback is now guaranteed not to run. Call it when the connection
// closes, so a grant lost in a dead loop's queue is not leaked.
func (w *Waiter) Cancel() bool {
	if w == nil {
		return true
	}
	t := w.t
	t.mu.Lock()
	if w.queued {
		t.unlink(w)
		w.state.Store(waitCancelled)
		granted := t.grantLocked() // a large head leaving may let others in
		t.mu.Unlock()
		t.notify(granted)
		return true
	}
	t.mu.Unlock()
	if w.state.CompareAndSwap(waitGranted, waitCancelled) {
		t.Put(w.n)
		return true
	}
	return w.state.Load() == waitCancelled
}

// Stats returns a snapshot.
func (t *Throttle) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Max: t.max, Current: t.cur, Peak: t.peak, Gets: t.gets, Puts: t.puts,
		Waits: t.waits, WaitTotal: time.Duration(t.waitNs), Waiting: t.waiting}
}
