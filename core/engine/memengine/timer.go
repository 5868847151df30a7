package memengine

import (
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// The engine's timers are one loopkit.Timers heap, ordered by (deadline,
// creation), owned by their connections; the engine asks the clock to wake
// it only for the earliest, so equal deadlines fire in creation order on
// any clock. Deadlines are nanoseconds since the engine started, on its
// clock. A due timer is popped onto the run queue (PopDue) and claimed when
// its turn comes (Take), so a Stop in between still wins. Every Timers
// call is made with the engine lock held, which is also what guards the
// connection state that conn.Closed reads.

// timer is one AfterFunc as the handler holds it: Stop must take the
// engine lock and re-arm the clock when the head leaves.
type timer struct {
	loopkit.Timer
	e *Engine
}

var _ engine.Timer = (*timer)(nil)

// Stop prevents fn from running if it has not started; see engine.Timer.
func (t *timer) Stop() bool {
	e := t.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !t.Timer.Stop() {
		return false
	}
	e.arm()
	return true
}

// Closed makes a connection the Owner of its timers: they never run once
// it is closing. Called with the engine lock held.
func (c *conn) Closed() bool { return c.closing || c.state == stateClosed }

// now is the engine's clock in nanoseconds since it started.
func (e *Engine) now() int64 { return int64(e.clock.Now().Sub(e.epoch)) }

// addTimer schedules fn for c at now+d into t. An internal timer (engine
// work: a dial timeout) runs with the lock held; a handler's runs without.
func (e *Engine) addTimer(t *loopkit.Timer, c *conn, d time.Duration, internal bool, fn func()) {
	run := fn
	if !internal {
		run = func() { e.unlocked(fn) }
	}
	now := e.now()
	at := addSat(now, d)
	e.timers.Schedule(t, c, at, run)
	if at <= now {
		e.collectDue()
		return
	}
	e.arm()
}

// collectDue moves every timer whose deadline has come onto the run queue,
// in heap order, and re-arms the clock for the next one.
func (e *Engine) collectDue() {
	now := e.now()
	for t := e.timers.PopDue(now); t != nil; t = e.timers.PopDue(now) {
		e.push(task{t: t})
	}
	e.arm()
}

// arm makes sure exactly one clock wake-up is pending, for the earliest
// timer. A generation number discards wake-ups that fire after being
// replaced (a real timer can fire while being stopped).
func (e *Engine) arm() {
	when, ok := e.timers.Next()
	if !ok || e.closed {
		if e.armStop != nil {
			e.armStop()
			e.armStop = nil
			e.armGen++
		}
		return
	}
	if e.armStop != nil && e.armedWhen == when {
		return
	}
	if e.armStop != nil {
		e.armStop()
	}
	e.armGen++
	gen := e.armGen
	e.armedWhen = when
	e.armStop = e.clock.AfterFunc(time.Duration(when-e.now()), func() { e.clockFired(gen) })
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

// runTimer runs a due timer on the loop (lock held on entry and exit),
// unless it was stopped since, or its connection is closing.
func (e *Engine) runTimer(t *loopkit.Timer) {
	if fn := t.Take(); fn != nil {
		fn()
	}
}

// dropTimers cancels every timer of a closing connection.
func (e *Engine) dropTimers(c *conn) {
	e.timers.Drop(c)
	e.arm()
}
