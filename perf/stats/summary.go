// Package stats holds the harness's statistics: the median of repetitions
// with an order-statistic confidence interval, the Mann-Whitney U test that
// `perf compare` uses (as benchstat does), percentiles from HdrHistogram and
// Jain's fairness index. Nothing here does I/O.
package stats

import (
	"math"
	"sort"

	mstats "github.com/montanaflynn/stats"
)

// Summary is the median of a set of repetitions with its confidence
// interval. Confidence is the interval's real coverage, which can exceed
// the requested level (order statistics come in discrete steps) or fall
// below it when there are too few samples (5 samples reach at most
// 93.75 %, see MedianCI).
type Summary struct {
	N          int     `json:"n"`
	Median     float64 `json:"median"`
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
}

// Summarize returns the median of xs and its confidence interval at the
// requested level (0.95 in the report). xs is not modified.
func Summarize(xs []float64, level float64) Summary {
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med, _ := mstats.Median(s)
	lo, hi, conf := MedianCI(s, level)
	return Summary{N: len(s), Median: med, Lo: lo, Hi: hi, Confidence: conf, Min: s[0], Max: s[len(s)-1]}
}

// MedianCI returns a distribution-free confidence interval for the median
// of sorted: the order statistics (x[k], x[n-1-k]) with the largest k whose
// coverage P(k < B < n-k), B ~ Binomial(n, 1/2), is at least level. When
// even (min, max) does not reach level (n < 6 for 95 %), it returns
// (min, max) with its true, lower coverage rather than inventing a wider
// interval; the report prints that coverage next to the interval.
func MedianCI(sorted []float64, level float64) (lo, hi, coverage float64) {
	n := len(sorted)
	if n == 0 {
		return math.NaN(), math.NaN(), 0
	}
	if n == 1 {
		return sorted[0], sorted[0], 0
	}
	best := 0
	bestCov := binomCoverage(n, 0)
	for k := 1; k < n/2; k++ {
		c := binomCoverage(n, k)
		if c < level {
			break
		}
		best, bestCov = k, c
	}
	return sorted[best], sorted[n-1-best], bestCov
}

// binomCoverage is P(k+1 <= B <= n-1-k) for B ~ Binomial(n, 1/2): the
// probability that the interval (x[k], x[n-1-k]) holds the true median.
func binomCoverage(n, k int) float64 {
	tail := 0.0
	for i := 0; i <= k; i++ {
		tail += binomPMF(n, i)
	}
	return 1 - 2*tail
}

func binomPMF(n, k int) float64 {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	return math.Exp(lg(n) - lg(k) - lg(n-k) - float64(n)*math.Ln2)
}

// Jain returns Jain's fairness index (Σx)² / (n·Σx²) of per-connection
// throughputs: 1 when all are equal, 1/n when one connection gets all.
// It returns NaN for an empty set or when every value is zero.
func Jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if len(xs) == 0 || sq == 0 {
		return math.NaN()
	}
	return sum * sum / (float64(len(xs)) * sq)
}
