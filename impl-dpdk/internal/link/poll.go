package link

import (
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// PollMode is the poller's idle policy.
type PollMode int

const (
	// Adaptive spins for a while after the last frame (PollControl.SetSpin:
	// SpinFor, or none on a CPU shared with everything else), then
	// blocks on the port's rx interrupt where it has one (net_tap), or
	// else sleeps with nanosleep(2), doubling up to MaxSleep until a
	// frame comes: from 1 µs when it spins, from the thread's sleep floor
	// (SleepFloor) when it does not.
	Adaptive PollMode = iota
	// Spin never sleeps: lowest latency, one core busy for good.
	Spin
)

// SpinFor is how long Adaptive keeps spinning after the last frame when
// the poller has CPUs to spare (SpinForCPUs). It is a duration, not a poll
// count: an empty tap poll is a readv syscall (~0.6 µs), an empty memif
// poll ~60 ns (research/dpdk-gvisor.md).
const SpinFor = 100 * time.Microsecond

// SpinForCPUs is Adaptive's spin for a poller allowed cpus CPUs. On one
// CPU the poller usually shares it with every thread that makes its next
// frame (gVisor's goroutines, the engine's workers, a local client):
// spinning there only delays them, so Adaptive goes straight to its
// interrupt wait or back-off. The rule cannot tell a shared CPU from one
// of its own (the bench's split placement), where spinning could pay:
// there memif, with no rx interrupt, backs off in nanosleep. Measured
// (perf run --baseline, 5 + 5 repetitions, one run, processes pinned to
// one CPU): dpdk over a tap p50 −53 % (msgr-pingpong-4KiB-pinned, 312 →
// 147 µs), −67 % (msgr-keepalive-pingpong-pinned), −59 %
// (proxy-pingpong-64B-pinned), server CPU per message −71 % to −76 %,
// proxy-stream-1-pinned +52 %, proxy-connrate (proxy on one CPU) +30 %;
// dpdk-memif p50 −19 %. With two CPUs the spin pays: without it
// msgr-pingpong-0B-unpinned's p50 doubled (49.9 → 99.1 µs), so it stays.
func SpinForCPUs(cpus int) time.Duration {
	if cpus <= 1 {
		return 0
	}
	return SpinFor
}

// SleepFloor is the back-off's first sleep on the calling thread when
// the poller does not spin (one CPU, shared with the threads that make its
// next frame): the median wall time of a few nanosleep(2) calls of 1 µs,
// at least 1 µs and at most MaxSleep. On this project's VMs (Firecracker
// guests) nanosleep costs 18-21 µs of CPU whatever it asks for, and one
// under about 20 µs never gives the CPU away (its CPU time equals its wall
// time): a back-off doubling from 1 µs spent five such calls, about 100 µs
// of a shared CPU, before its first real sleep. With CPUs to spare those
// short sleeps are a cheap tail of the spin that keeps the CPU awake, and
// starting at the floor there made msgr-pingpong-0B-unpinned's p50 +49 %
// (dpdk-memif), so a spinning poller still starts at 1 µs. Measured with
// perf run --baseline (one run, 5 + 5 repetitions), dpdk-memif:
// msgr-pingpong-4KiB-pinned p50 −9 %, p99 −20 %, server CPU per message
// −21 %; msgr-pingpong-0B-unpinned, the msgr-ramp-4KiB knee and idle CPU
// unchanged. Call it on the poll thread after its timer slack is set: the
// slack is part of what a sleep costs.
func SleepFloor() time.Duration {
	var d [floorSamples]time.Duration
	ts := syscall.NsecToTimespec(int64(time.Microsecond))
	for i := range d {
		t0 := time.Now()
		_ = syscall.Nanosleep(&ts, nil)
		d[i] = time.Since(t0)
	}
	return floorOf(d[:])
}

// floorSamples nanosleeps make SleepFloor's median: about 0.5 ms at start
// on a VM where each costs 30 µs.
const floorSamples = 15

// floorOf is the median of samples (sorted in place), kept within
// [1 µs, MaxSleep].
func floorOf(samples []time.Duration) time.Duration {
	if len(samples) == 0 {
		return time.Microsecond
	}
	slices.Sort(samples)
	return min(max(samples[len(samples)/2], time.Microsecond), MaxSleep)
}

// MaxSleep caps the back-off: the latency an idle engine adds to the first
// frame of a burst.
const MaxSleep = 100 * time.Microsecond

func (m PollMode) String() string {
	if m == Spin {
		return "spin"
	}
	return "adaptive"
}

// ParsePollMode parses "spin" or "adaptive".
func ParsePollMode(s string) (PollMode, error) {
	switch s {
	case "", "adaptive":
		return Adaptive, nil
	case "spin":
		return Spin, nil
	}
	return Adaptive, fmt.Errorf("poll mode %q: want spin or adaptive", s)
}

// RxWaiter is a Port that can block until a frame arrives (rx
// interrupts). WaitRx returns false at once when the port has none; it
// must be called on the thread that opened the port.
type RxWaiter interface {
	WaitRx(timeoutMs int) bool
}

// WaitTimeout bounds one interrupt wait, so a stop request is seen
// within it.
const WaitTimeout = 50 * time.Millisecond

// PollControl steers a running Poll from other goroutines.
type PollControl struct {
	Stop atomic.Bool
	mode atomic.Int32
	spin atomic.Int64 // Adaptive's spin after the last frame, ns
}

// SetMode changes the idle policy of a running poller.
func (c *PollControl) SetMode(m PollMode) { c.mode.Store(int32(m)) }

// SetSpin sets how long Adaptive spins after the last frame (zero, the
// default: not at all); see SpinForCPUs.
func (c *PollControl) SetSpin(d time.Duration) { c.spin.Store(int64(d)) }

// Poll runs the rx loop on the calling goroutine until ctl.Stop is set. It uses
// nanosleep directly, never time.Sleep: Go timers have a ~1 ms floor on this
// class of VM, and the poll thread is locked, so a blocking syscall is what
// we want.
func (e *Endpoint) Poll(ctl *PollControl) {
	waiter, _ := e.port.(RxWaiter)
	floor := SleepFloor()
	first := func() time.Duration {
		if ctl.spin.Load() > 0 {
			return time.Microsecond
		}
		return floor
	}
	last := time.Now()
	var sleep Backoff
	sleep.Reset(first())
	for !ctl.Stop.Load() {
		if e.PollOnce() > 0 {
			last = time.Time{}
			sleep.Reset(first())
			continue
		}
		if PollMode(ctl.mode.Load()) == Spin {
			continue
		}
		if last.IsZero() {
			last = time.Now()
			continue
		}
		if time.Since(last) < time.Duration(ctl.spin.Load()) {
			continue
		}
		if waiter != nil && waiter.WaitRx(int(WaitTimeout/time.Millisecond)) {
			e.idleWaits.Add(1)
			last = time.Time{} // spin again after a wake-up
			continue
		}
		sleep.Sleep()
		e.idleSleeps.Add(1)
	}
}

// Backoff is Adaptive's wait between empty polls: nanosleep(2), doubling
// from where Reset put it up to MaxSleep. Poll uses it, and so does the
// bare memif ping-pong that measures the engine's floor
// (BenchmarkMemifFloor), so both wait alike. The zero value sleeps 0,
// then MaxSleep: call Reset first.
type Backoff struct{ next time.Duration }

// Reset makes first the next sleep (after a frame came).
func (b *Backoff) Reset(first time.Duration) { b.next = first }

// Sleep sleeps the next step and doubles it, up to MaxSleep.
func (b *Backoff) Sleep() {
	ts := syscall.NsecToTimespec(int64(b.next))
	_ = syscall.Nanosleep(&ts, nil)
	b.next = min(b.next*2, MaxSleep)
}
