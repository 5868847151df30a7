package rawepoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEpollWait: a blocking wait is raw only while a P stays free for the
// rest of the process, a raw wait that times out hands the rest of the
// timeout to an ordinary one (never returning early, which would spin the
// loop), and both report ready descriptors.
func TestEpollWait(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		procs                int32
		timeoutMs            int
		wantRaw, wantRuntime uint64
	}{
		{"one P: runtime wait", 1, 2, 0, 1},
		{"a P free: raw wait", 2, rawWaitMs, 1, 0},
		{"longer than a raw wait: both", 2, rawWaitMs + 3, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCenter(t, 16)
			defer c.closeFDs()
			c.procs = tc.procs
			var start time.Time
			var n int
			var err error
			// A signal (the runtime preempting, a GC) ends a wait early
			// with EINTR, as the loop expects: measure a wait without one.
			for try := 0; try < 100; try++ {
				c.rawWaits, c.runtimeWaits = 0, 0
				start = time.Now()
				if n, err = c.epollWait(tc.timeoutMs); err != unix.EINTR {
					break
				}
			}
			if err != nil || n != 0 {
				t.Fatalf("idle wait: n=%d err=%v, want 0, nil", n, err)
			}
			// epoll_wait rounds its timeout up to the clock's
			// granularity, never down.
			if d := time.Since(start); d < time.Duration(tc.timeoutMs)*time.Millisecond {
				t.Errorf("idle wait of %d ms returned after %v", tc.timeoutMs, d)
			}
			if c.rawWaits != tc.wantRaw || c.runtimeWaits != tc.wantRuntime {
				t.Errorf("raw waits %d, runtime waits %d; want %d, %d", c.rawWaits, c.runtimeWaits, tc.wantRaw, tc.wantRuntime)
			}
			if rawWaiters.Load() != 0 {
				t.Errorf("rawWaiters = %d after the wait, want 0", rawWaiters.Load())
			}
			// The doorbell is registered: ring it, and the wait sees it.
			if _, err := unix.Write(c.notify, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
			n, err = c.epollWait(tc.timeoutMs)
			for err == unix.EINTR {
				n, err = c.epollWait(tc.timeoutMs)
			}
			if n != 1 || err != nil {
				t.Fatalf("wait with the doorbell rung: n=%d err=%v, want 1, nil", n, err)
			}
		})
	}
}
