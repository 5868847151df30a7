package dpdkengine

import (
	"bytes"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// worker is one loop (Ceph's EventCenter): it runs every callback of the
// connections it owns, one at a time, in this order each turn: I/O events
// of ready connections, then queued functions (Execute and the engine's
// own tasks) in submission order, then due timers. gVisor's TCP processors
// and the port poller only mark connections ready and wake the loop; the
// loop does the reads, writes and callbacks itself (research/dpdk-gvisor.md:
// gVisor's processors cannot be run on the poll thread, so this is the
// closest to run-to-completion that stock gVisor allows). The queue and the
// timer heap are loopkit's; the ready list is this engine's I/O model.
type worker struct {
	wake   chan struct{} // capacity 1: a pending wake-up
	q      loopkit.ExecQueue
	timers loopkit.Timers

	mu    sync.Mutex
	ready []*conn // connections with pending events, each once (conn.queued)

	stopped bool // loop-only: set by stop's function, run after all before it
	// The Payloader of every endpoint Write on this loop, not a conn's: gVisor keeps
	// the last one (its limRdr) for the endpoint's life, TIME_WAIT's 60 s too.
	wr bytes.Reader
}

// drainBatch bounds the queued functions one turn runs before it goes
// back to I/O, so a function that re-queues itself cannot starve it.
const drainBatch = 1024

func newWorker(executeLimit int) *worker {
	w := &worker{wake: make(chan struct{}, 1)}
	w.q.Init(executeLimit)
	w.timers.Init(func(int64) { w.kick() }) // a new earliest deadline: re-arm
	return w
}

func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// push wakes the loop when the queue says it may be asleep (loopkit's
// handshake) and passes the queue's error on.
func (w *worker) push(wake bool, err error) error {
	if wake {
		w.kick()
	}
	return err
}

// markReady queues c for event processing; called from gVisor's goroutines.
func (w *worker) markReady(c *conn) {
	if c.queued.Swap(true) {
		return
	}
	w.mu.Lock()
	w.ready = append(w.ready, c)
	w.mu.Unlock()
	w.kick()
}

// stop ends the loop once everything queued before it has run (the
// connections' closes that Shutdown queued first among them).
func (w *worker) stop() { _ = w.push(w.q.Post(func() { w.stopped = true })) }

func (w *worker) run(g *loopkit.Group) {
	defer g.Done()
	defer w.timers.Close()
	defer w.q.Close()
	idle := time.NewTimer(time.Hour) // re-armed before every sleep
	defer idle.Stop()
	var ready []*conn
	for {
		w.mu.Lock()
		ready, w.ready = w.ready, ready[:0]
		w.mu.Unlock()
		for _, c := range ready {
			c.queued.Store(false)
			c.process()
		}
		clear(ready)
		more := w.q.Drain(drainBatch, nil)
		ran := w.timers.RunDue(loopkit.Now(), nil)
		if len(ready) > 0 || more || ran > 0 || !w.q.Idle() {
			continue
		}
		if w.stopped {
			return
		}
		sleep := time.Hour // no timer: only a wake-up ends it
		if at, ok := w.timers.Next(); ok {
			sleep = time.Duration(at - loopkit.Now())
		}
		idle.Reset(sleep)
		select {
		case <-w.wake:
		case <-idle.C:
		}
	}
}
