package soak

import (
	"math"
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	const mib = 1 << 20
	// series builds n samples, one a second, from f(i).
	series := func(n int, f func(i int) float64) ([]float64, []float64) {
		ts, vs := make([]float64, n), make([]float64, n)
		for i := range n {
			ts[i], vs[i] = float64(i), f(i)
		}
		return ts, vs
	}
	cases := []struct {
		name    string
		metric  string
		n       int
		f       func(i int) float64
		judged  bool
		growing bool
	}{
		{"flat", MetricFDs, 120, func(int) float64 { return 20 }, true, false},
		{"flat with noise", MetricFDs, 120, func(i int) float64 { return 20 + float64(i%3) }, true, false},
		// A Go heap's sawtooth: 40 MiB climbing to 52 and back every 10 s.
		{"gc sawtooth", MetricRSS, 600, func(i int) float64 { return 40*mib + float64(i%10)*1.2*mib }, true, false},
		// Warm-up in the first half only: a step, then flat.
		{"warm-up step", MetricRSS, 120, func(i int) float64 {
			if i < 30 {
				return 10 * mib
			}
			return 80 * mib
		}, true, false},
		{"rss leak 1 MiB/s", MetricRSS, 120, func(i int) float64 { return 30*mib + float64(i)*mib }, true, true},
		{"slow rss leak under the floor", MetricRSS, 120, func(i int) float64 { return 30*mib + float64(i)*64*1024 }, true, false},
		{"fd leak 1 per 5 s", MetricFDs, 300, func(i int) float64 { return 20 + float64(i/5) }, true, true},
		{"goroutine leak", MetricGoroutines, 200, func(i int) float64 { return 30 + float64(i)/2 }, true, true},
		// One late spike moves the slope, not the rise over the ends.
		{"single late spike", MetricGoroutines, 100, func(i int) float64 {
			if i == 90 {
				return 400
			}
			return 30
		}, true, false},
		// A burst at the very end moves the rise, not the trend.
		{"burst in the last samples", MetricFDs, 200, func(i int) float64 {
			if i >= 197 {
				return 60
			}
			return 20
		}, true, false},
		{"shrinking", MetricRSS, 120, func(i int) float64 { return 200*mib - float64(i)*mib }, true, false},
		{"too short", MetricFDs, 8, func(i int) float64 { return float64(i * 100) }, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, vs := series(c.n, c.f)
			v := Judge(c.metric, ts, vs, Limits[c.metric])
			if v.Judged != c.judged || v.Growing != c.growing {
				t.Fatalf("judged %v growing %v, want %v %v: %s", v.Judged, v.Growing, c.judged, c.growing, v.Reason)
			}
			if !v.Judged && !strings.HasPrefix(v.Reason, "not judged") {
				t.Fatalf("reason %q does not say it was not judged", v.Reason)
			}
		})
	}
}

func TestSlope(t *testing.T) {
	ts := []float64{0, 1, 2, 3, 4}
	vs := []float64{1, 3, 5, 7, 9}
	if s := slope(ts, vs); math.Abs(s-2) > 1e-12 {
		t.Fatalf("slope %v, want 2", s)
	}
	if s := slope([]float64{1, 1}, []float64{1, 5}); s != 0 {
		t.Fatalf("slope over one instant %v, want 0", s)
	}
}

func TestJudgeMismatchedLengths(t *testing.T) {
	if v := Judge(MetricFDs, []float64{1}, []float64{1, 2}, Limits[MetricFDs]); v.Judged {
		t.Fatal("judged a series with more values than times")
	}
}
