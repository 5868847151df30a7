package gnetengine

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// loop is the engine's state for one gnet event loop, whose goroutine gnet
// runs. The engine keeps its own ordered, bounded queue and timer heap per
// loop (loopkit) because gnet's task queues are unbounded and may reorder
// (low-priority tasks spill between two queues), and the contract promises
// FIFO Execute and deadline-ordered timers. One gnet task drains the
// queue; the timers run from it, posted when the wake timer fires.
type loop struct {
	el     gnet.EventLoop
	q      loopkit.ExecQueue
	timers loopkit.Timers
	epfd   int           // gnet's epoll fd for this loop (gnetinternal.go)
	epErr  error         // why epfd is unknown: PauseRead then closes the connection
	task   gnet.Runnable // runs runQueue; one value, so a kick does not allocate

	wake     *time.Timer // fires at the earliest timer deadline
	runDueFn func()      // runDue, as one value for fire's post
	mu       sync.Mutex  // guards wakeAt
	wakeAt   int64       // when wake fires; 0: not armed
}

func newLoop(e *Engine, el gnet.EventLoop) *loop {
	l := &loop{el: el}
	l.epfd, l.epErr = epollFD(el)
	l.q.Init(e.cfg.ExecuteQueueLimit)
	l.timers.Init(l.arm)
	l.wake = time.AfterFunc(math.MaxInt64, l.fire) // armed by arm
	l.task = gnet.RunnableFunc(func(context.Context) error { l.runQueue(); return nil })
	l.runDueFn = l.runDue
	return l
}

// callback runs fn as one callback on the loop (the caller is the loop's
// goroutine, inside a gnet event), then what it queued: the flushes of the
// connections it wrote to, so its writes reach the sockets without a
// wake-up, and any Execute. Awake spares those pushes a kick.
func (l *loop) callback(fn func()) {
	l.q.Awake()
	fn()
	l.runQueue()
}

// post queues one of the engine's own events (a flush, a drained check, a
// timer wake-up): not bounded by the Execute limit, at most a few per
// connection and one per timer wake-up.
func (l *loop) post(fn func()) error { return l.woke(l.q.Post(fn)) }

// woke kicks the loop when a push found its queue asleep (loopkit's
// handshake); Execute's push comes here too.
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

// runQueue runs queued functions (loop only), then either queues a drain
// task (work remains) or lets the queue fall asleep, so the next push kicks
// the loop again (loopkit's handshake: no lost wake).
func (l *loop) runQueue() {
	if l.q.Drain(drainBatch, nil) || !l.q.Idle() {
		l.kick()
	}
}

// runDue runs the due timers and re-arms for the next deadline (loop only,
// queued by fire like any event, so it runs whichever way the queue is
// drained: a drain task or the end of a callback).
func (l *loop) runDue() {
	l.timers.RunDue(loopkit.Now(), nil)
	if at, ok := l.timers.Next(); ok {
		l.arm(at)
	}
}

// arm makes the loop's one runtime timer fire by at. loopkit calls it
// (under its lock) when the earliest deadline moves earlier, and runDue
// for the next deadline. It only ever moves the wake-up earlier, so
// runDue's late call cannot undo an earlier deadline added meanwhile; the
// wake-up re-arms for the rest. A spurious fire only costs an empty runDue.
func (l *loop) arm(at int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wakeAt == 0 || at < l.wakeAt {
		l.wakeAt = at
		l.wake.Reset(time.Duration(at - loopkit.Now()))
	}
}

func (l *loop) fire() {
	l.mu.Lock()
	l.wakeAt = 0
	l.mu.Unlock()
	_ = l.post(l.runDueFn)
}
