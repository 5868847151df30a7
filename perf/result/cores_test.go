package result

import (
	"math"
	"testing"

	"github.com/netmodels/netmodels/perf/stats"
)

func TestCoreTargetNames(t *testing.T) {
	for _, c := range []struct {
		base    string
		n       int
		threads bool
		name    string
	}{{"rawepoll", 1, false, "rawepoll/w1"}, {"dpdk-memif", 12, false, "dpdk-memif/w12"}, {"haproxy", 2, true, "haproxy/t2"}} {
		if got := CoreTarget(c.base, c.n, c.threads); got != c.name {
			t.Errorf("CoreTarget(%s, %d) = %s, want %s", c.base, c.n, got, c.name)
		}
		base, n, ok := ParseCoreTarget(c.name)
		if !ok || base != c.base || n != c.n {
			t.Errorf("ParseCoreTarget(%s) = %s %d %v", c.name, base, n, ok)
		}
	}
	for _, bad := range []string{"direct", "rawepoll", "rawepoll/w", "rawepoll/w0", "rawepoll/x2", "/w2", "rawepoll/w2x"} {
		if _, _, ok := ParseCoreTarget(bad); ok {
			t.Errorf("ParseCoreTarget(%q) ok", bad)
		}
	}
}

func TestEfficiency(t *testing.T) {
	s := func(med, lo, hi float64) stats.Summary { return stats.Summary{N: 5, Median: med, Lo: lo, Hi: hi} }
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, c := range []struct {
		n           int
		atN, at1    stats.Summary
		eff, lo, hi float64
		ok          bool
	}{
		// Perfect scaling: twice the rate at 2.
		{2, s(200, 200, 200), s(100, 100, 100), 1, 1, 1, true},
		// 1.5× at 2 workers: 75 %; bounds: 150/(2·110), 220/(2·90).
		{2, s(150, 150, 220), s(100, 90, 110), 0.75, 150.0 / 220, 220.0 / 180, true},
		// The point itself: efficiency 1 at n = 1, bounds from both CIs.
		{1, s(100, 90, 110), s(100, 90, 110), 1, 90.0 / 110, 110.0 / 90, true},
		// 8 workers, 4× the rate: 50 %.
		{8, s(400, 400, 400), s(100, 100, 100), 0.5, 0.5, 0.5, true},
		{2, s(100, 100, 100), stats.Summary{}, 0, 0, 0, false},
		{2, s(100, 100, 100), s(0, 0, 0), 0, 0, 0, false},
		{0, s(100, 100, 100), s(100, 100, 100), 0, 0, 0, false},
	} {
		eff, lo, hi, ok := Efficiency(c.n, c.atN, c.at1)
		if ok != c.ok || !near(eff, c.eff) || !near(lo, c.lo) || !near(hi, c.hi) {
			t.Errorf("Efficiency(%d, %+v, %+v) = %v %v %v %v, want %v %v %v %v", c.n, c.atN, c.at1, eff, lo, hi, ok, c.eff, c.lo, c.hi, c.ok)
		}
	}
}
