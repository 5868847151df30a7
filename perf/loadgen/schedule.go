// Package loadgen holds the harness's own load generators: TCP ping-pong
// (closed-loop and open-loop at a constant rate), bulk streams, connection
// rate, idle connections and the msgr1 keepalive client. Each runs as a
// `perf loadgen ...` subprocess so that it can be pinned like the servers
// and its CPU time is its own.
//
// MinOneSample: every loop (a connection, a connrate loop, a stream)
// measures at least one operation, even when its window closed while it
// was still busy with a warm-up operation. Windows are wall-clock time,
// and on a loaded machine a short one (the tests use 10-50 ms) can pass
// entirely while a loop waits for the CPU; a run that then counted nothing
// would be "no measurement" (the harness fails such a cell), though the
// target is fine. The elapsed time is measured, late sample included, so
// the rate stays honest; at the suite's durations of seconds it hardly
// ever comes into play.
package loadgen

import (
	"context"
	"time"

	"github.com/netmodels/netmodels/core/sleep"
)

// Clock is the time source of the pacing loops; tests use a fake one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at or after t (immediately if t has passed).
	SleepUntil(t time.Time)
}

// RealClock is the wall clock. Its waits are core/sleep's: the runtime
// sleeps for all but the last 2 ms, then nanosleep(2) on the thread, since a
// Go timer alone wakes about 1 ms late on these VMs (time.Sleep(100µs)
// measured 1.08 ms) and an open-loop pacer charges its oversleep to every
// request. What overshoot remains is charged to the latency in open-loop
// mode, as in wrk2, and shows up in the load generator's ceiling against the
// raw server. core/cli's msgr-client --rate paces with the same code.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) SleepUntil(t time.Time) { sleep.Until(t) }

// Schedule is an open-loop constant-rate plan: request i is intended to be
// sent at Start + i*Interval, whatever happened to request i-1.
type Schedule struct {
	Start    time.Time
	Interval time.Duration
}

// Intended is the send time request i should have had.
func (s Schedule) Intended(i int64) time.Time { return s.Start.Add(time.Duration(i) * s.Interval) }

// Pacer runs round trips either closed-loop (Interval 0: the next request
// leaves when the previous reply is in, latency measured from the actual
// send) or open-loop (latency measured from the intended send time, so a
// stall is charged to every request that should have been sent during it:
// coordinated omission corrected at record time, as wrk2 does).
type Pacer struct {
	Clock Clock
	// Interval between intended sends on this connection; 0 = closed loop.
	Interval time.Duration
	// Until ends the run: no request but the first is started at or
	// after it.
	Until time.Time
	// Record receives each round trip's latency.
	Record func(time.Duration)
}

// Run drives rt until Until, ctx ends or rt fails, at least once. It
// returns the number of completed round trips and the first error.
func (p *Pacer) Run(ctx context.Context, rt func() error) (int64, error) {
	start := p.Clock.Now()
	sched := Schedule{Start: start, Interval: p.Interval}
	var n int64
	for ctx.Err() == nil {
		var from time.Time
		if p.Interval > 0 {
			from = sched.Intended(n)
		} else {
			from = p.Clock.Now()
		}
		if n > 0 && !from.Before(p.Until) { // the first runs anyway (MinOneSample)
			break
		}
		if p.Interval > 0 {
			p.Clock.SleepUntil(from)
		}
		if err := rt(); err != nil {
			return n, err
		}
		p.Record(p.Clock.Now().Sub(from))
		n++
	}
	return n, nil
}

// lowTimerSlack pins the calling goroutine to its thread and sets the
// thread's timer slack to 1 ns (sleep.LowTimerSlack), so nanosleep wakes on
// time. For open-loop pacers only: the thread stays locked until the
// goroutine exits.
func lowTimerSlack() { sleep.LowTimerSlack() }
