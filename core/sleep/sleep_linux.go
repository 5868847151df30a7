package sleep

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// precise sleeps about d on this thread with nanosleep(2); an EINTR or an
// early return is fine, Until loops on the clock.
func precise(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}

// LowTimerSlack locks the calling goroutine to its thread and sets that
// thread's timer slack to 1 ns (prctl PR_SET_TIMERSLACK; the default, 50
// µs, is added to every nanosleep). For a goroutine that paces sends: the
// thread stays locked until the goroutine exits, and the runtime then ends
// the thread, so the setting never leaks to other goroutines.
func LowTimerSlack() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
}
