package stats

import (
	"math"
	"testing"
	"time"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestSummarizeMedianAndCI(t *testing.T) {
	tests := []struct {
		name           string
		xs             []float64
		median, lo, hi float64
		coverage       float64
	}{
		// n=5: even (min,max) only covers 1-2/32 = 93.75 %.
		{"five", []float64{5, 1, 4, 2, 3}, 3, 1, 5, 0.9375},
		// n=6: (min,max) covers 1-2/64 = 96.875 %.
		{"six", []float64{6, 5, 4, 3, 2, 1}, 3.5, 1, 6, 0.96875},
		// n=10: k=1 covers 1-2*(1+10)/1024 = 97.85 %, k=2 only 89 %.
		{"ten", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5.5, 2, 9, 1 - 2*11.0/1024},
		// n=20: k=5 covers 1-2*P(B<=5) = 0.9586, k=6 0.8847.
		{"twenty", seq(20), 10.5, 6, 15, 0.958610534667969},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.xs, 0.95)
			if s.Median != tc.median || s.Lo != tc.lo || s.Hi != tc.hi {
				t.Fatalf("got median %v [%v, %v], want %v [%v, %v]", s.Median, s.Lo, s.Hi, tc.median, tc.lo, tc.hi)
			}
			if !near(s.Confidence, tc.coverage, 1e-9) {
				t.Fatalf("coverage %v, want %v", s.Confidence, tc.coverage)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestSummarizeEmpty(t *testing.T) {
	if s := Summarize(nil, 0.95); !math.IsNaN(s.Median) || s.N != 0 {
		t.Fatalf("empty summary = %+v", s)
	}
}

func TestJain(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{1, 1, 1, 1}, 1},
		{[]float64{1, 0, 0, 0}, 0.25},
		{[]float64{3, 1}, 16.0 / 20},
		{[]float64{10, 20, 30}, 3600.0 / (3 * 1400)},
	}
	for _, tc := range tests {
		if got := Jain(tc.xs); !near(got, tc.want, 1e-12) {
			t.Errorf("Jain(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(Jain(nil)) || !math.IsNaN(Jain([]float64{0, 0})) {
		t.Error("Jain of nothing should be NaN")
	}
}

func TestCompareMannWhitney(t *testing.T) {
	// Completely separated samples of 5: the exact two-sided p is
	// 2/C(10,5) = 2/252 = 0.00794 (the smallest possible for 5+5).
	c := Compare([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	if !near(c.P, 2.0/252, 1e-9) || !c.Significant || c.Delta != "+166.67%" {
		t.Fatalf("separated: %+v", c)
	}
	// Interleaved samples: U = 12 of 25, p = 1 - nothing to report.
	c = Compare([]float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10})
	if c.Significant || c.Delta != "~" {
		t.Fatalf("interleaved should be ~: %+v", c)
	}
	// Known value (R: wilcox.test(c(1,2,3,4,6), c(5,7,8,9,10))$p.value = 0.01587).
	c = Compare([]float64{1, 2, 3, 4, 6}, []float64{5, 7, 8, 9, 10})
	if !near(c.P, 4.0/252, 1e-9) {
		t.Fatalf("one swap: p = %v, want %v", c.P, 4.0/252)
	}
	// Three samples each can never reach p < 0.05: "~" with a warning.
	c = Compare([]float64{1, 2, 3}, []float64{10, 11, 12})
	if c.Delta != "~" || len(c.Warnings) == 0 {
		t.Fatalf("n=3 should be ~ with a warning: %+v", c)
	}
}

func TestPercentilesFromHistogram(t *testing.T) {
	h := NewLatencyHist()
	// 1..1000 µs, one sample each: p50 = 500 µs, p99 = 990 µs, max 1000 µs.
	for i := 1; i <= 1000; i++ {
		RecordLatency(h, time.Duration(i)*time.Microsecond)
	}
	p := PercentilesOf(h)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"p50", p.P50, 500}, {"p90", p.P90, 900}, {"p99", p.P99, 990},
		{"p999", p.P999, 999}, {"max", p.Max, 1000}, {"min", p.Min, 1}, {"mean", p.Mean, 500.5},
	}
	for _, c := range checks {
		// Three significant digits: 0.1 % relative error at most.
		if !near(c.got, c.want, c.want*0.001+0.001) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	enc, err := EncodeHist(h)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeHist(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.TotalCount() != 1000 || PercentilesOf(back) != p {
		t.Fatalf("round trip changed the histogram: %+v vs %+v", PercentilesOf(back), p)
	}
	// Clamping: a value beyond the range still counts.
	RecordLatency(h, 1000*time.Second)
	if h.TotalCount() != 1001 {
		t.Fatal("out-of-range value lost")
	}
	if len(Curve(h)) < 5 {
		t.Fatalf("curve too short: %v", Curve(h))
	}
}
