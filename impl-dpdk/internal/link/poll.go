package link

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
)

// PollMode is the poller's idle policy.
type PollMode int

const (
	// Adaptive spins for SpinFor after the last frame, then blocks on the
	// port's rx interrupt where it has one (net_tap), or else sleeps with
	// nanosleep(2), doubling from 1 µs up to MaxSleep, until a frame comes.
	Adaptive PollMode = iota
	// Spin never sleeps: lowest latency, one core busy for good.
	Spin
)

// SpinFor is how long Adaptive keeps spinning after the last frame. It is
// a duration, not a poll count: an empty tap poll is a readv syscall
// (~0.6 µs), an empty memif poll ~60 ns (research/dpdk-gvisor.md).
const SpinFor = 100 * time.Microsecond

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
}

// SetMode changes the idle policy of a running poller.
func (c *PollControl) SetMode(m PollMode) { c.mode.Store(int32(m)) }

// Poll runs the rx loop on the calling goroutine until ctl.Stop is set. It uses
// nanosleep directly, never time.Sleep: Go timers have a ~1 ms floor on this
// class of VM, and the poll thread is locked, so a blocking syscall is what
// we want.
func (e *Endpoint) Poll(ctl *PollControl) {
	waiter, _ := e.port.(RxWaiter)
	last := time.Now()
	sleep := time.Microsecond
	for !ctl.Stop.Load() {
		if e.PollOnce() > 0 {
			last = time.Time{}
			sleep = time.Microsecond
			continue
		}
		if PollMode(ctl.mode.Load()) == Spin {
			continue
		}
		if last.IsZero() {
			last = time.Now()
			continue
		}
		if time.Since(last) < SpinFor {
			continue
		}
		if waiter != nil && waiter.WaitRx(int(WaitTimeout/time.Millisecond)) {
			e.idleWaits.Add(1)
			last = time.Time{} // spin again after a wake-up
			continue
		}
		ts := syscall.NsecToTimespec(int64(sleep))
		_ = syscall.Nanosleep(&ts, nil)
		e.idleSleeps.Add(1)
		sleep = min(sleep*2, MaxSleep)
	}
}
