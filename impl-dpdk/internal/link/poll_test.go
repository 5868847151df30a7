package link

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParsePollMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PollMode
		ok   bool
	}{
		{"", Adaptive, true},
		{"adaptive", Adaptive, true},
		{"spin", Spin, true},
		{"interrupt", Adaptive, false},
	} {
		got, err := ParsePollMode(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParsePollMode(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestSpinForCPUs: no spin on a CPU shared with everything else, SpinFor
// with CPUs to spare.
func TestSpinForCPUs(t *testing.T) {
	for _, tc := range []struct {
		cpus int
		want time.Duration
	}{{0, 0}, {1, 0}, {2, SpinFor}, {64, SpinFor}} {
		if got := SpinForCPUs(tc.cpus); got != tc.want {
			t.Errorf("SpinForCPUs(%d) = %v, want %v", tc.cpus, got, tc.want)
		}
	}
}

// TestFloorOf: the median of the samples, within [1 µs, MaxSleep].
func TestFloorOf(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"none", nil, us},
		{"median", []time.Duration{30 * us, 21 * us, 25 * us}, 25 * us},
		{"an outlier does not move it", []time.Duration{22 * us, 5 * time.Millisecond, 21 * us, 23 * us, 24 * us}, 23 * us},
		{"cheap sleeps: at least 1 µs", []time.Duration{100, 200, 300}, us},
		{"at most MaxSleep", []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}, MaxSleep},
	} {
		if got := floorOf(tc.samples); got != tc.want {
			t.Errorf("%s: floorOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSleepFloor: the measured floor is a usable first sleep here, on a
// thread with the poll thread's 1 µs timer slack (the thread stays locked,
// so the runtime ends it with the test's goroutine).
func TestSleepFloor(t *testing.T) {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	f := SleepFloor()
	t.Logf("sleep floor %v", f)
	if f < time.Microsecond || f > MaxSleep {
		t.Fatalf("SleepFloor() = %v, want within [1µs, %v]", f, MaxSleep)
	}
}
