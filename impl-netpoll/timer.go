package netpollengine

import (
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// timer is one AfterFunc. Its state moves once, from pending to fired (the
// loop is about to run fn) or to stopped (Stop won, or the connection
// closed); that single compare-and-swap is what makes Stop's answer exact.
type timer struct {
	l     *loop
	c     *conn
	fn    func()
	at    time.Time
	seq   uint64 // creation order, breaks deadline ties
	idx   int    // position in the loop's heap, -1 when out of it
	state atomic.Int32
}

// Stop reports whether it prevented fn from running. On the loop a true
// result is final: fn runs on the loop too, so it cannot be half-started.
func (t *timer) Stop() bool {
	if !t.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	t.l.removeTimer(t)
	return true
}

func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	t := &timer{l: c.loop, c: c, fn: fn, at: time.Now().Add(d), idx: -1}
	if c.isClosed() {
		t.state.Store(timerStopped)
		return t
	}
	c.loop.addTimer(t)
	return t
}
