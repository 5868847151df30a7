package serial

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// Loop is one serialisation domain (see the package doc). Engine goroutines
// that want to run callbacks on their own stack (a reader, a processing
// task) take the token with Acquire and give it back with Release, which
// first drains whatever was queued meanwhile; everything else goes through
// Post, Execute or AfterFunc. Connections dialed Near each other share one
// Loop, so the two legs of a proxy session never run at the same time.
//
// The queue and the timer heap are loopkit's (ExecQueue, Timers); what
// serial adds is the token, which stands in for a loop thread, and the
// drainer goroutine that takes it when a push finds the queue asleep.
type Loop struct {
	gs *loopkit.Group // counts drainer goroutines
	q  loopkit.ExecQueue

	mu      sync.Mutex
	cond    sync.Cond // signalled when the token is released
	running bool      // someone holds the token
	redrain bool      // the queue woke while the token was held: drain before release
	waiters int       // goroutines blocked in Acquire

	// Time events, Ceph's EventCenter style: loopkit's heap and one
	// runtime timer armed for its head, so timers fire strictly in
	// deadline order. tmu guards the runtime timer and the owner count;
	// the heap calls arm with its own mutex held, so tmu is taken inside
	// the heap's mutex and never the other way round.
	timers   loopkit.Timers
	tmu      sync.Mutex
	rt       *time.Timer
	rtAt     int64 // deadline rt is armed for; noDeadline when not armed
	rtPosted bool  // a runTimers task is queued
	owners   atomic.Int32

	// drainer is the body of a drainer goroutine, built once: a go
	// statement with a new closure would allocate on every wake-up.
	drainer func()
}

// drainBatch is how many functions Release runs between two looks at the
// queue's state; Release drains until the queue is empty either way.
const drainBatch = 1024

// New returns an idle loop whose drainer goroutines are counted in gs and
// whose Execute queue holds at most executeLimit functions.
func New(gs *loopkit.Group, executeLimit int) *Loop {
	l := &Loop{gs: gs, rtAt: noDeadline}
	l.cond.L = &l.mu
	l.q.Init(executeLimit)
	l.timers.Init(l.arm)
	l.drainer = func() {
		defer l.gs.Done()
		l.Release()
	}
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
//
// Every push that finds the queue asleep is told so (loopkit's handshake)
// and then, under mu, either takes the free token for a drainer or, the
// token being held, sets redrain (woke). So a holder that finds redrain
// unset has nothing to drain: whatever is queued has a waker still on its
// way, which will find the token free. A delivery (Acquire, OnData,
// Release) therefore costs two locks of mu, as with a plain mutex; only a
// push while the token is held pays for a drain round.
func (l *Loop) Release() {
	l.mu.Lock()
	for l.redrain {
		l.redrain = false
		l.mu.Unlock()
		for l.q.Drain(drainBatch, nil) || !l.q.Idle() {
		}
		l.mu.Lock()
	}
	l.running = false
	if l.waiters > 0 {
		l.cond.Signal()
	}
	l.mu.Unlock()
}

// Run runs fn on the loop from an engine goroutine (one that may call
// Acquire), on the caller's stack: it takes the token, first runs what is
// already queued (so fn comes after every function queued before the call,
// as with Post), then fn, and gives the token back through Release. Post
// from a goroutine that is about to end costs a drainer goroutine when the
// token is free: its creation, and the wake-up of another thread to run it
// (the runtime wakes an idle P for every new goroutine). Run costs neither.
func (l *Loop) Run(fn func()) {
	l.Acquire()
	for l.q.Drain(drainBatch, nil) || !l.q.Idle() {
	}
	fn()
	l.Release()
}

// Execute queues fn, the contract's Execute: it fails with
// engine.ErrExecuteQueueFull, queueing nothing, once the queue holds the
// loop's limit (posted functions included). A refused fn never runs.
func (l *Loop) Execute(fn func()) error { return l.woke(l.q.Execute(fn)) }

// Post queues one of the engine's own events (OnClose, OnDrained, read
// EOF...). It is not limited: the engine bounds these by construction.
func (l *Loop) Post(fn func()) { _ = l.woke(l.q.Post(fn)) }

// woke acts on a push that found the queue asleep (loopkit's handshake):
// if the token is free, the pusher takes it for a new drainer goroutine
// at once, so a later Acquire waits until the function ran; if it is held,
// its holder is told to drain before letting go (redrain). Either way the
// function runs before any Acquire that starts after the push, as with the
// old single-mutex loop (a splice's done, posted by the reader, runs
// before its next OnData).
func (l *Loop) woke(wake bool, err error) error {
	if !wake {
		return err
	}
	l.mu.Lock()
	if l.running {
		l.redrain = true
		l.mu.Unlock()
		return err
	}
	l.running, l.redrain = true, true
	l.mu.Unlock()
	l.gs.Add()
	go l.drainer()
	return err
}
