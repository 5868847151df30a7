package serial

import (
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Owner is what a Loop's timers belong to: a connection. A timer whose
// owner is closed when it comes due is dropped instead of run, and Detach
// drops an owner's pending timers. Owners are compared by identity.
type Owner interface {
	Closed() bool
}

// Loop is one serialisation domain (see the package doc). Engine goroutines
// that want to run callbacks on their own stack (a reader, a processing
// task) take the token with Acquire and give it back with Release, which
// first drains whatever was queued meanwhile; everything else goes through
// Post, Execute or AfterFunc. Connections dialed Near each other share one
// Loop, so the two legs of a proxy session never run at the same time.
type Loop struct {
	gs           *Group // counts drainer goroutines
	executeLimit int

	mu      sync.Mutex
	cond    sync.Cond // signalled when the token is released
	running bool      // someone holds the token
	waiters int       // goroutines blocked in Acquire
	q       fnQueue   // pending functions, FIFO

	// Time events, Ceph's EventCenter style: a heap ordered by deadline
	// (ties by creation order) and one runtime timer armed for the head,
	// so timers fire strictly in deadline order.
	timers   timerHeap
	timerSeq uint64
	rt       *time.Timer
	rtAt     time.Time
	rtPosted bool // a runTimers task is queued
	owners   int  // live owners (connections) using this loop
}

// New returns an idle loop whose drainer goroutines are counted in gs and
// whose Execute queue holds at most executeLimit functions.
func New(gs *Group, executeLimit int) *Loop {
	l := &Loop{gs: gs, executeLimit: executeLimit}
	l.cond.L = &l.mu
	return l
}

// Acquire blocks until the caller holds the token. Only engine goroutines
// (readers, processing tasks, accept and dial goroutines) may call it,
// never a function running on the loop, so it cannot self-deadlock.
func (l *Loop) Acquire() {
	l.mu.Lock()
	for l.running {
		l.waiters++
		l.cond.Wait()
		l.waiters--
	}
	l.running = true
	l.mu.Unlock()
}

// Release runs every queued function (including ones queued by those
// functions) and then gives the token back.
func (l *Loop) Release() {
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

// Execute queues fn, the contract's Execute: it fails with
// engine.ErrExecuteQueueFull, queueing nothing, once the queue holds the
// loop's limit.
func (l *Loop) Execute(fn func()) error { return l.post(fn, true) }

// Post queues one of the engine's own events (OnClose, OnDrained, read
// EOF...). It is not limited: the engine bounds these by construction.
func (l *Loop) Post(fn func()) { _ = l.post(fn, false) }

func (l *Loop) post(fn func(), limited bool) error {
	l.mu.Lock()
	if limited && l.q.len() >= l.executeLimit {
		l.mu.Unlock()
		return engine.ErrExecuteQueueFull
	}
	l.q.push(fn)
	if !l.running {
		l.running = true
		l.mu.Unlock()
		l.gs.Add()
		go func() {
			defer l.gs.Done()
			l.Release()
		}()
		return nil
	}
	l.mu.Unlock()
	return nil
}

// Attach and Detach count the owners on the loop. Detach drops o's pending
// timers; when the last owner leaves, every pending timer is dropped and
// the runtime timer stopped, so a closed connection's long timeout does not
// keep memory (or a runtime timer) alive. A Loop with no owner refuses new
// timers.
func (l *Loop) Attach() {
	l.mu.Lock()
	l.owners++
	l.mu.Unlock()
}

// Detach: see Attach.
func (l *Loop) Detach(o Owner) {
	l.mu.Lock()
	l.owners--
	if l.owners > 0 {
		l.dropTimersLocked(o)
	} else {
		l.dropAllTimersLocked()
	}
	l.mu.Unlock()
}

// fnQueue is a FIFO ring of functions that grows by doubling; its length is
// bounded by the Execute limit plus the engine's internal posts.
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
