//go:build dpdk

package dpdkengine

import (
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleCPU measures the process's CPU while the engine is idle (no
// traffic) under each poll mode and checks that adaptive actually backs
// off: it must use less CPU than spin and sleep between polls.
func TestIdleCPU(t *testing.T) {
	const window = 1500 * time.Millisecond
	ep := runtimeEndpoint()
	t.Cleanup(func() { setPollMode(link.Adaptive) })
	share := map[link.PollMode]float64{}
	for _, m := range []link.PollMode{link.Spin, link.Adaptive} {
		setPollMode(m)
		time.Sleep(200 * time.Millisecond) // settle: leave the previous mode
		before, sleeps, waits, start := cpuTime(t), ep.Stats().IdleSleeps, ep.Stats().IdleWaits, time.Now()
		time.Sleep(window)
		used, el := cpuTime(t)-before, time.Since(start)
		share[m] = float64(used) / float64(el)
		t.Logf("idle %s: %.1f%% of one core, %d back-off sleeps, %d rx-interrupt waits", m, 100*share[m], ep.Stats().IdleSleeps-sleeps, ep.Stats().IdleWaits-waits)
		if m == link.Adaptive && ep.Stats().IdleSleeps == sleeps && ep.Stats().IdleWaits == waits {
			t.Errorf("adaptive poller never slept while idle")
		}
	}
	if share[link.Adaptive] >= share[link.Spin] {
		t.Errorf("adaptive idle CPU %.1f%% not below spin %.1f%%", 100*share[link.Adaptive], 100*share[link.Spin])
	}
}
