package gnetengine

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// loop is the engine's state for one gnet event loop, whose goroutine gnet
// runs. The engine keeps its own ordered, bounded queue and timer heap per
// loop (loopkit) because gnet's task queues are unbounded and may reorder
// (low-priority tasks spill between two queues), and the contract promises
// FIFO Execute and deadline-ordered timers. One gnet task drains both.
type loop struct {
	e      *Engine
	el     gnet.EventLoop
	q      loopkit.ExecQueue
	timers loopkit.Timers
	epfd   int           // gnet's epoll fd for this loop (gnetinternal.go)
	epErr  error         // why epfd is unknown: PauseRead then closes the connection
	task   gnet.Runnable // runs drain; one value, so a kick does not allocate

	mu         sync.Mutex
	inCallback bool
	dirty      []*conn     // conns written to during the current callback
	wake       *time.Timer // fires at the earliest timer deadline
}

// epoch anchors the loops' monotonic clock (loopkit deadlines are int64 ns).
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

func newLoop(e *Engine, el gnet.EventLoop) *loop {
	l := &loop{e: e, el: el}
	l.epfd, l.epErr = epollFD(el)
	l.q.Init(e.cfg.ExecuteQueueLimit)
	l.timers.Init(l.arm)
	l.task = gnet.RunnableFunc(func(context.Context) error { l.drain(); return nil })
	return l
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

// execute queues fn on the loop behind everything queued before it,
// bounded by Config.ExecuteQueueLimit.
func (l *loop) execute(fn func()) error { return l.woke(l.q.Execute(fn)) }

// post queues one of the engine's own events (a flush, a drained check, a
// timer wake-up): not bounded by the Execute limit, at most a few per
// connection and one per timer wake-up.
func (l *loop) post(fn func()) error { return l.woke(l.q.Post(fn)) }

func (l *loop) woke(wake bool, err error) error {
	if wake {
		l.kick()
	}
	return err
}

// kick queues one drain task in gnet's own queue (an eventfd wake-up).
// gnet refuses it only once the loop is gone; the queue is closed then.
func (l *loop) kick() {
	if err := l.el.Execute(context.Background(), l.task); err != nil {
		l.q.Close()
	}
}

// drainBatch bounds the functions one drain runs before it yields to I/O,
// so a function that re-queues itself cannot starve the loop.
const drainBatch = 1024

// drain runs queued functions and due timers (loop only), then either
// queues another drain (work remains) or lets the queue fall asleep, so
// the next push kicks the loop again (loopkit's handshake: no lost wake).
func (l *loop) drain() {
	more := l.q.Drain(drainBatch, l.callback)
	l.timers.RunDue(now(), l.callback)
	if at, ok := l.timers.Next(); ok {
		l.arm(at)
	}
	if more || !l.q.Idle() {
		l.kick()
	}
}

// arm sets the loop's one runtime timer to fire at at. loopkit calls it
// (under its lock) when the earliest deadline moves earlier; drain calls
// it for the next deadline. A spurious fire only costs an empty drain.
func (l *loop) arm(at int64) {
	d := time.Duration(at - now())
	l.mu.Lock()
	if l.wake == nil {
		l.wake = time.AfterFunc(d, func() { _ = l.post(func() {}) })
	} else {
		l.wake.Reset(d)
	}
	l.mu.Unlock()
}

// markDirty records that c has queued bytes to flush. It reports false when
// the loop is not inside a callback, so the caller must schedule a flush.
func (l *loop) markDirty(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.inCallback {
		return false
	}
	l.dirty = append(l.dirty, c)
	return true
}
