package soak

import (
	"fmt"
	"math"
	"slices"
)

// Steady growth, the soak's failure criterion. A series (one process's
// RSS, open descriptors or goroutines, sampled every second) grows
// steadily when, over the second half of its samples (the first half is
// warm-up: pools and buffers fill, the GC finds its pace), both
//
//  1. the least-squares slope times the second half's length (the growth
//     the trend predicts across it), and
//  2. the rise from the start to the end of the second half: the mean of
//     its last tenth minus the mean of its first tenth (at least two
//     samples each),
//
// exceed the threshold max(Rel × the second half's median, Abs). Both must
// hold: the slope alone is pulled by one late spike (a GC cycle's
// sawtooth, a burst of reconnects), the endpoints alone by one noisy
// window; a leak moves both. A series with fewer than MinSamples samples
// in its second half is not judged, and says so.

// Limit is a metric's growth threshold.
type Limit struct {
	Rel float64 // fraction of the second half's median level
	Abs float64 // floor, in the metric's unit
}

// Threshold is the growth allowed at level (the second half's median).
func (l Limit) Threshold(level float64) float64 { return max(l.Rel*math.Abs(level), l.Abs) }

func (l Limit) String() string {
	abs := fmt.Sprintf("%g", l.Abs)
	if l.Abs >= 1<<20 {
		abs = fmt.Sprintf("%g MiB", l.Abs/(1<<20))
	}
	return fmt.Sprintf("max(%.0f %% of the level, %s)", 100*l.Rel, abs)
}

// MinSamples is the fewest samples in the second half a verdict needs.
const MinSamples = 5

// Limits are the soak's thresholds per metric. RSS: 10 % or 16 MiB (a
// Go heap's sawtooth is a few MiB at these loads; a leak of 32 bytes per
// message over a 10-minute run's second half passes 16 MiB). Descriptors:
// 10 % or 8 (a reconnect in progress holds one or two for a moment).
// Goroutines (or threads): 10 % or 16 (a reconnect's dial and handshake
// goroutines come and go).
var Limits = map[string]Limit{
	MetricRSS:        {Rel: 0.10, Abs: 16 << 20},
	MetricFDs:        {Rel: 0.10, Abs: 8},
	MetricGoroutines: {Rel: 0.10, Abs: 16},
}

// The judged metrics.
const (
	MetricRSS        = "rss_bytes"
	MetricFDs        = "fds"
	MetricGoroutines = "goroutines"
)

// Verdict is one series' judgement.
type Verdict struct {
	Metric    string  `json:"metric"`
	Judged    bool    `json:"judged"`
	Growing   bool    `json:"growing"`
	Samples   int     `json:"samples"`
	Level     float64 `json:"level"`     // the second half's median
	Slope     float64 `json:"slope"`     // per second, least squares over the second half
	Trend     float64 `json:"trend"`     // Slope × the second half's length
	Rise      float64 `json:"rise"`      // mean of its last tenth − mean of its first tenth
	Threshold float64 `json:"threshold"` // Limit.Threshold(Level)
	Reason    string  `json:"reason"`
}

// Judge decides whether the series (times in seconds, ascending, and
// values) grows steadily under lim.
func Judge(metric string, ts, vs []float64, lim Limit) Verdict {
	v := Verdict{Metric: metric, Samples: len(vs)}
	if len(ts) != len(vs) {
		v.Reason = fmt.Sprintf("%d times for %d values", len(ts), len(vs))
		return v
	}
	half := len(vs) / 2
	t2, v2 := ts[half:], vs[half:]
	if len(v2) < MinSamples {
		v.Reason = fmt.Sprintf("not judged: %d samples in the second half, fewer than %d", len(v2), MinSamples)
		return v
	}
	v.Judged = true
	v.Level = median(v2)
	v.Slope = slope(t2, v2)
	v.Trend = v.Slope * (t2[len(t2)-1] - t2[0])
	k := max(len(v2)/10, 2)
	v.Rise = mean(v2[len(v2)-k:]) - mean(v2[:k])
	v.Threshold = lim.Threshold(v.Level)
	v.Growing = v.Trend > v.Threshold && v.Rise > v.Threshold
	verb := "flat"
	if v.Growing {
		verb = "grows steadily"
	}
	v.Reason = fmt.Sprintf("%s: trend %+.4g and rise %+.4g over the second half (%d samples) against %.4g = %s",
		verb, v.Trend, v.Rise, len(v2), v.Threshold, lim)
	return v
}

// slope is the least-squares slope of vs over ts.
func slope(ts, vs []float64) float64 {
	mt, mv := mean(ts), mean(vs)
	var num, den float64
	for i := range ts {
		num += (ts[i] - mt) * (vs[i] - mv)
		den += (ts[i] - mt) * (ts[i] - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
