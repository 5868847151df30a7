package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseCPUStat(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       CPUStat
		err        string
	}{
		{"kernel 6.1", "cpu  100 2 30 800 5 1 2 10 7 0\ncpu0 50 1 15 400 2 0 1 5 0 0\nintr 1\n", CPUStat{Total: 950, Steal: 10}, ""},
		{"no guest fields", "cpu 1 1 1 1 1 1 1 3\n", CPUStat{Total: 10, Steal: 3}, ""},
		{"no steal field", "cpu 1 1 1 1 1 1 1\n", CPUStat{}, "want 8 or more"},
		{"garbage", "cpu 1 1 1 x 1 1 1 1\n", CPUStat{}, "field 4"},
		{"no cpu line", "cpu0 1 1 1 1 1 1 1 1\n", CPUStat{}, "no aggregate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCPUStat(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestStealPct(t *testing.T) {
	for _, tc := range []struct {
		a, b CPUStat
		want float64
	}{
		{CPUStat{1000, 10}, CPUStat{1200, 30}, 10},
		{CPUStat{1000, 10}, CPUStat{1200, 10}, 0},
		{CPUStat{1000, 10}, CPUStat{1000, 10}, 0}, // no time passed
		{CPUStat{1000, 10}, CPUStat{900, 5}, 0},   // counters went back: not a figure
	} {
		if got := StealPct(tc.a, tc.b); got != tc.want {
			t.Errorf("StealPct(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if st, err := ReadCPUStat(); err != nil || st.Total == 0 {
		t.Fatalf("this machine's /proc/stat: %+v, %v", st, err)
	}
}

func TestCPULoop(t *testing.T) {
	ns, onCPU, rounds, err := cpuLoop(200, 3, 0, time.Minute)
	if err != nil || rounds != 3 || ns <= 0 || onCPU <= 0 {
		t.Fatalf("cpuLoop: %v ns/iter (on CPU %v), %d rounds, %v", ns, onCPU, rounds, err)
	}
	// The bound stops it after the round that crosses it.
	if _, _, rounds, _ := cpuLoop(200, 1000, -1, time.Nanosecond); rounds != 1 {
		t.Fatalf("bounded loop ran %d rounds, want 1", rounds)
	}
}
