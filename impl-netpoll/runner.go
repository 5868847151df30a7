package netpollengine

import (
	"context"
	"sync/atomic"

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
	for {
		f()
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		f = <-idleTasks
		idleWorkers.Add(-1)
	}
}
