// Package sleep waits until an instant with tens-of-microseconds precision,
// for open-loop load generators whose latency is measured from the intended
// send time: every microsecond the pacer oversleeps is charged to the
// request it sends late.
//
// Why not time.Sleep or a timer: on the VMs this project runs on, a Go timer
// wakes with about millisecond granularity (time.Sleep(100µs) measured 1.08
// ms at the median), so a 2000/s pacer built on one charges ~0.6 ms of its
// own oversleep to every request. Until sleeps with the runtime for all but
// the last coarseMargin of a wait and ends it with nanosleep(2) on the
// calling thread (an hrtimer; ~80 µs late here, ~10 µs with LowTimerSlack).
//
// perf's loadgen (RealClock) and core/cli's msgr-client --rate both use it,
// so the harness's pacer and the engines' client oversleep alike.
package sleep

import (
	"runtime"
	"sync"
	"time"
)

// coarseMargin is the stretch of a wait left to the precise sleep: more
// than the runtime timer's worst oversleep seen on these VMs.
const coarseMargin = 2 * time.Millisecond

// The two wait stages, as variables so that tests can tell which stages a
// wait used without timing it (a wall-clock bound flakes on a loaded
// machine).
var (
	coarseSleep  = time.Sleep
	preciseSleep = precise
)

// Until returns at or after t (at once if t has passed).
func Until(t time.Time) { UntilOrDone(t, nil) }

// UntilOrDone is Until that gives up when done is closed first: it returns
// true at or after t, false on done. Done is watched during the runtime
// part of the wait and checked once before the precise tail, which is at
// most coarseMargin long. A nil done never fires.
func UntilOrDone(t time.Time, done <-chan struct{}) bool {
	if d := time.Until(t); d > coarseMargin {
		if done == nil {
			coarseSleep(d - coarseMargin)
		} else {
			tm := time.NewTimer(d - coarseMargin)
			select {
			case <-tm.C:
			case <-done:
				tm.Stop()
				return false
			}
		}
	}
	select {
	case <-done:
		return false
	default:
	}
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		preciseSleep(d)
	}
}

// PacerP gives the pacer a P of its own, once per process: GOMAXPROCS
// is raised by one (so to 2 in a process pinned to one CPU). Until's
// precise tail is a nanosleep(2) that keeps the caller's P, and a pacer at
// thousands of sends per second sleeps nearly all the time, so that P is
// the pacer's. The goroutines that do the process's I/O need another:
//   - With GOMAXPROCS 1 they would wait for the runtime's idle network
//     poll, about every 10 ms (measured, raw echo server: p50 15-19 ms
//     against 0.12-0.15 ms with two Ps; msgr-client at 2,000/s: p99 21
//     against 7 ms).
//   - An engine whose loop holds a P for good (bin/dpdk's poller, locked
//     to its thread; loopkit.ReserveProcs sized GOMAXPROCS for it and one
//     more) readies the goroutines it feeds into its own P's run queue.
//     Only an idle P's thread takes them from there at once; with the
//     pacer's P in a system call and the last P busy, they waited for
//     sysmon's retake, up to 10 ms (measured by an execution trace of
//     bin/dpdk msgr-client over memif at 1,000/s: scheduling delays of
//     5.7-9.7 ms, round-trip p99 8.9 ms; with this P, p99 1.5-2.5 ms at
//     1,500/s).
//
// Extra Ps cost nothing while idle. A pacer that does its own I/O on its
// goroutine needs none of this.
func PacerP() {
	pacerP.Do(func() { runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1) })
}

var pacerP sync.Once
