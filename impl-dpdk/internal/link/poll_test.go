package link

import (
	"testing"
	"time"
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
