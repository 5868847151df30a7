package netpollengine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
)

// netpoll runs each connection's processing task (onRequest) through its
// Runner. Its default, gopool, starts a goroutine for a task through a new
// closure whenever no pool worker is running, which on request/response
// traffic is every readable event: an allocation per message. This runner
// keeps the model (one task per readable connection, on goroutines apart
// from the pollers, never waiting for a free worker, since a task may
// block in Peek or on a pause) and only reuses the goroutines: a task goes
// to an idle worker over an unbuffered channel, or to a new worker when
// none is idle. A worker parks for the next task unless maxIdleWorkers are
// parked already, then it exits. netpoll's own task closure (one per
// readable event, connection_onevent.go) is left: it is inside netpoll.
const maxIdleWorkers = 64

// idleRetire: a parked worker that gets no task for this long exits, so
// a burst's workers do not stay parked for good (up to maxIdleWorkers
// goroutines and their stacks, which conformance's churn cases see as
// goroutines that never return to their baseline). Request/response
// traffic parks a worker for far less between messages.
const idleRetire = time.Second

var (
	idleTasks   = make(chan func())
	idleWorkers atomic.Int32
)

// Configure must run in an init function, before netpoll's pollers start.
func init() {
	_ = netpoll.Configure(netpoll.Config{Runner: runTask})
}

func runTask(_ context.Context, f func()) {
	select {
	case idleTasks <- f:
	default:
		go taskWorker(f)
	}
}

func taskWorker(f func()) {
	// One timer for the worker's life: Reset allocates nothing, so a
	// reused worker still costs no allocation per task.
	var retire *time.Timer
	for {
		f()
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		if retire == nil {
			retire = time.NewTimer(idleRetire)
		} else {
			retire.Reset(idleRetire) // Go 1.23+: no stale tick survives a Reset
		}
		select {
		case f = <-idleTasks:
			idleWorkers.Add(-1)
		case <-retire.C:
			// runTask's send cannot complete once this select is left.
			idleWorkers.Add(-1)
			return
		}
	}
}
