package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// Change is one metric of one cell compared between two runs.
type Change struct {
	Scenario, Target, Metric, Unit string
	Lower                          bool
	stats.Comparison
}

// Compare pairs the cells of old and new by scenario, target and metric
// and runs the Mann-Whitney U test on their repetitions. Headline metrics
// and p99 are compared (the rest are in the reports).
func Compare(old, new *result.Run) []Change {
	var out []Change
	for _, ns := range new.Scenarios {
		os := old.Scenario(ns.ID)
		if os == nil {
			continue
		}
		for _, nc := range ns.Cells {
			oc := os.Cell(nc.Target)
			if oc == nil || oc.Status != result.StatusOK || nc.Status != result.StatusOK {
				continue
			}
			for _, m := range ns.Metrics {
				if !m.Headline && m.Name != "p99_us" {
					continue
				}
				a, b := oc.Values(m.Name), nc.Values(m.Name)
				if len(a) == 0 || len(b) == 0 {
					continue
				}
				out = append(out, Change{Scenario: ns.ID, Target: nc.Target, Metric: m.Name, Unit: m.Unit, Lower: m.Lower,
					Comparison: stats.Compare(a, b)})
			}
		}
	}
	return out
}

// WriteComparison prints the changes as a table like benchstat's: "~" when
// the difference is not significant at α = 0.05. Verdict says whether the
// change is better or worse given the metric's direction.
func WriteComparison(w io.Writer, oldID, newID string, cs []Change) {
	fmt.Fprintf(w, "perf compare: %s → %s (Mann-Whitney U, α = %.2f; ~ = no significant change)\n\n", oldID, newID, stats.Alpha)
	fmt.Fprintf(w, "| scenario | target | metric | old | new | delta | p | verdict |\n|---|---|---|---|---|---|---|---|\n")
	worse, better := 0, 0
	for _, c := range cs {
		verdict := ""
		if c.Delta != "~" {
			up := c.NewMedian > c.OldMedian
			if up == c.Lower {
				verdict, worse = "worse", worse+1
			} else {
				verdict, better = "better", better+1
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s [%s] | %s | %s | %s | %.3f (n=%d+%d) | %s |\n", c.Scenario, c.Target, c.Metric, c.Unit,
			num(c.OldMedian), num(c.NewMedian), c.Delta, c.P, c.N1, c.N2, verdict)
	}
	var warn []string
	for _, c := range cs {
		for _, x := range c.Warnings {
			warn = append(warn, x)
		}
	}
	fmt.Fprintf(w, "\n%d compared, %d significantly better, %d significantly worse.\n", len(cs), better, worse)
	if len(warn) > 0 {
		fmt.Fprintf(w, "Warning: %s\n", strings.Join(dedup(warn), "; "))
	}
}

func dedup(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// RatioChange is an engine/anchor ratio in two runs: the figure the
// acceptance asks to agree within ±15 % between two default runs.
type RatioChange struct {
	Scenario, Target, Anchor, Metric string
	Headline                         bool
	Old, New                         float64
	// Diff is New/Old - 1.
	Diff float64
}

// CompareRatios pairs every engine/anchor ratio of the headline metrics.
func CompareRatios(old, new *result.Run) []RatioChange {
	var out []RatioChange
	for _, ns := range new.Scenarios {
		os := old.Scenario(ns.ID)
		if os == nil {
			continue
		}
		ratio := func(sc *result.Scenario, target, anchor, m string) (float64, bool) {
			c, a := sc.Cell(target), sc.Cell(anchor)
			if c == nil || a == nil || c.Status != result.StatusOK || a.Status != result.StatusOK {
				return 0, false
			}
			cv, av := c.Summary[m].Median, a.Summary[m].Median
			if c.Summary[m].N == 0 || a.Summary[m].N == 0 || av == 0 {
				return 0, false
			}
			return cv / av, true
		}
		for _, anchor := range ns.Anchors {
			for _, c := range ns.Cells {
				if c.Kind != result.KindEngine {
					continue
				}
				for _, m := range ns.Metrics {
					if !m.Headline {
						continue
					}
					o, ok1 := ratio(os, c.Target, anchor, m.Name)
					n, ok2 := ratio(ns, c.Target, anchor, m.Name)
					if ok1 && ok2 && o != 0 {
						out = append(out, RatioChange{ns.ID, c.Target, anchor, m.Name, ns.Headline, o, n, n/o - 1})
					}
				}
			}
		}
	}
	return out
}

// WriteRatioChanges prints the ratio table and the spread.
func WriteRatioChanges(w io.Writer, rs []RatioChange) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nEngine ÷ anchor ratios, old → new:\n\n| scenario | target | metric | ÷ anchor | old | new | change |\n|---|---|---|---|---|---|---|\n")
	worst := 0.0
	within := 0
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %+.1f%% |\n", r.Scenario, r.Target, r.Metric, r.Anchor, num(r.Old), num(r.New), 100*r.Diff)
		worst = max(worst, abs(r.Diff))
		if abs(r.Diff) <= 0.15 {
			within++
		}
	}
	fmt.Fprintf(w, "\n%d of %d ratios within ±15 %%; largest change %.1f %%.\n", within, len(rs), 100*worst)
	hw, hn, hworst := 0, 0, 0.0
	for _, r := range rs {
		if r.Headline {
			hn++
			hworst = max(hworst, abs(r.Diff))
			if abs(r.Diff) <= 0.15 {
				hw++
			}
		}
	}
	if hn > 0 {
		fmt.Fprintf(w, "Headline scenarios: %d of %d ratios within ±15 %%; largest change %.1f %%.\n", hw, hn, 100*hworst)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
