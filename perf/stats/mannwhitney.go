package stats

import (
	"fmt"

	"golang.org/x/perf/benchmath"
)

// Alpha is the significance level of Compare, as benchstat's default.
const Alpha = 0.05

// Comparison is the outcome of a two-sided Mann-Whitney U test between the
// repetitions of an old and a new run of one measurement.
type Comparison struct {
	OldMedian   float64 `json:"old_median"`
	NewMedian   float64 `json:"new_median"`
	P           float64 `json:"p"`
	N1          int     `json:"n1"`
	N2          int     `json:"n2"`
	Significant bool    `json:"significant"`
	// Delta is "~" when the difference is not significant at Alpha (or
	// cannot be, with too few samples), else the signed percent change.
	Delta    string   `json:"delta"`
	Warnings []string `json:"warnings,omitempty"`
}

// Compare runs the Mann-Whitney U test (benchmath's AssumeNothing, the
// test benchstat uses: exact for small samples, ties handled) on two sets
// of repetitions.
func Compare(old, new []float64) Comparison {
	th := benchmath.DefaultThresholds
	s1 := benchmath.NewSample(append([]float64(nil), old...), &th)
	s2 := benchmath.NewSample(append([]float64(nil), new...), &th)
	c := benchmath.AssumeNothing.Compare(s1, s2)
	o := Summarize(old, 0.95).Median
	n := Summarize(new, 0.95).Median
	out := Comparison{OldMedian: o, NewMedian: n, P: c.P, N1: c.N1, N2: c.N2,
		Significant: c.P <= c.Alpha, Delta: c.FormatDelta(o, n)}
	for _, w := range c.Warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	return out
}

// String renders the comparison the way benchstat does: "+12.00% (p=0.008 n=5)".
func (c Comparison) String() string {
	return fmt.Sprintf("%s (p=%.3f n=%d+%d)", c.Delta, c.P, c.N1, c.N2)
}
