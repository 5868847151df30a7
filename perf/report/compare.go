package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// Change is one metric of one cell compared between two runs, or between
// a target and its baseline in one run (OldTarget is then the baseline's
// ENGINE@REV, Target the engine).
type Change struct {
	Scenario, Target, Metric, Unit string
	OldTarget                      string
	Lower                          bool
	// Headline: one of the scenario's headline metrics (the ones
	// --fail-on judges); p99 is compared too, but only shown.
	Headline bool
	stats.Comparison
	// old and new are the repetitions compared (Regressions tests them
	// against a threshold).
	old, new []float64
}

// cellPair is a cell of one scenario measured twice: in two runs, or
// as a baseline target and the current one in a single run.
type cellPair struct {
	sc       *result.Scenario
	old, new *result.Cell
}

// runPairs pairs the cells of old and new by scenario and target.
func runPairs(old, new *result.Run) []cellPair {
	var out []cellPair
	for _, ns := range new.Scenarios {
		os := old.Scenario(ns.ID)
		if os == nil {
			continue
		}
		for _, nc := range ns.Cells {
			if oc := os.Cell(nc.Target); oc != nil {
				out = append(out, cellPair{ns, oc, nc})
			}
		}
	}
	return out
}

// baselinePairs pairs, in each scenario of run, every ENGINE@LABEL cell
// (old) with its ENGINE cell (new).
func baselinePairs(run *result.Run) []cellPair {
	var out []cellPair
	for _, sc := range run.Scenarios {
		for _, oc := range sc.Cells {
			e, label := result.SplitBaseline(oc.Target)
			if label == "" {
				continue
			}
			if nc := sc.Cell(e); nc != nil {
				out = append(out, cellPair{sc, oc, nc})
			}
		}
	}
	return out
}

// BaselineTargets lists run's ENGINE@LABEL targets (perf run --baseline).
func BaselineTargets(run *result.Run) []string {
	return run.TargetsWhere(func(c *result.Cell) bool {
		_, label := result.SplitBaseline(c.Target)
		return label != ""
	})
}

// Compare pairs the cells of old and new by scenario, target and metric
// and runs the Mann-Whitney U test on their repetitions. Headline metrics
// and p99 are compared (the rest are in the reports).
func Compare(old, new *result.Run) []Change { return comparePairs(runPairs(old, new)) }

// CompareBaseline compares, within one run, each baseline target
// ENGINE@LABEL (old) with ENGINE (new), as Compare does two runs: the
// two were measured in alternating turns on the same machine, so the
// test judges the change and not the machine's mood.
func CompareBaseline(run *result.Run) []Change { return comparePairs(baselinePairs(run)) }

func comparePairs(ps []cellPair) []Change {
	var out []Change
	for _, p := range ps {
		if p.old.Status != result.StatusOK || p.new.Status != result.StatusOK {
			continue
		}
		for _, m := range p.sc.Metrics {
			if !m.Headline && m.Name != "p99_us" {
				continue
			}
			a, b := p.old.Values(m.Name), p.new.Values(m.Name)
			if len(a) == 0 || len(b) == 0 {
				continue
			}
			c := Change{Scenario: p.sc.ID, Target: p.new.Target, Metric: m.Name, Unit: m.Unit, Lower: m.Lower, Headline: m.Headline,
				Comparison: stats.Compare(a, b), old: a, new: b}
			if p.old.Target != p.new.Target {
				c.OldTarget = p.old.Target
			}
			out = append(out, c)
		}
	}
	return out
}

// Unpaired is a pair of cells that could not be compared: one side did
// not measure (absent or failed), with why.
type Unpaired struct {
	Scenario, OldTarget, Target string
	OldStatus, NewStatus        string
	Reason                      string
	// Broke: the old side measured and the new one failed, a regression
	// of its own (--fail-on fails on it).
	Broke bool
}

func unpaired(ps []cellPair) []Unpaired {
	var out []Unpaired
	for _, p := range ps {
		if p.old.Status == result.StatusOK && p.new.Status == result.StatusOK {
			continue
		}
		u := Unpaired{Scenario: p.sc.ID, OldTarget: p.old.Target, Target: p.new.Target, OldStatus: p.old.Status, NewStatus: p.new.Status}
		var why []string
		if p.old.Status != result.StatusOK {
			why = append(why, p.old.Target+" "+p.old.Status+": "+p.old.Reason)
		}
		if p.new.Status != result.StatusOK {
			why = append(why, p.new.Target+" "+p.new.Status+": "+p.new.Reason)
		}
		u.Reason = strings.Join(why, "; ")
		u.Broke = p.old.Status == result.StatusOK && p.new.Status == result.StatusFailed
		out = append(out, u)
	}
	return out
}

// UnpairedRuns lists the cells of new whose counterpart in old, or
// themselves, did not measure.
func UnpairedRuns(old, new *result.Run) []Unpaired { return unpaired(runPairs(old, new)) }

// UnpairedBaseline is UnpairedRuns for a run's baseline targets.
func UnpairedBaseline(run *result.Run) []Unpaired { return unpaired(baselinePairs(run)) }

// Regression is a headline metric significantly worse by more than the
// threshold.
type Regression struct {
	Change
	// Pct is how much worse, in percent of the old median (WorsePct).
	Pct float64
	// Beyond is the Mann-Whitney test of the new repetitions against the
	// old ones made pct percent worse: what makes it a regression.
	Beyond stats.Comparison
}

// WorsePct is how much worse c's new median is than its old one, in
// percent of the old (negative: better); 0 when the old median is 0.
func (c Change) WorsePct() float64 {
	if c.OldMedian == 0 {
		return 0
	}
	d := 100 * (c.NewMedian/c.OldMedian - 1)
	if c.Lower {
		return d
	}
	return -d
}

// Regressions are the changes of headline metrics significantly worse
// by more than pct percent: the Mann-Whitney test (α = stats.Alpha),
// run on the new repetitions against the old ones made pct percent
// worse (×(1+pct/100) for a lower-is-better metric, ×(1-pct/100) for a
// higher-is-better one), finds the new ones worse still. So the gate
// asks whether the worsening itself is beyond pct, not merely whether
// there is a worsening and its median passes pct: in a quick suite of
// 37 headline metrics per engine on a noisy machine, a difference of
// more than 10 % in medians is common, and a plain test at α = 0.05 on
// each would fail some no-op change most of the time (on 5 against 5
// repetitions, a no-op is "significantly worse" by chance 4 times in 252
// per metric). A noisy difference, however large, and a significant but
// small one are not regressions.
func Regressions(cs []Change, pct float64) []Regression {
	var out []Regression
	for _, c := range cs {
		if !c.Headline || c.OldMedian == 0 {
			continue
		}
		w := c.WorsePct()
		if w <= pct {
			continue
		}
		f := 1 + pct/100
		if !c.Lower {
			f = 1 - pct/100
		}
		shifted := make([]float64, len(c.old))
		for i, v := range c.old {
			shifted[i] = v * f
		}
		beyond := stats.Compare(shifted, c.new)
		if !beyond.Significant || (beyond.NewMedian > beyond.OldMedian) != c.Lower {
			continue
		}
		out = append(out, Regression{Change: c, Pct: w, Beyond: beyond})
	}
	return out
}

// pairName is how a change's cell is shown: the target, or for a
// baseline comparison "ENGINE@REV → ENGINE".
func (c Change) pairName() string {
	if c.OldTarget != "" {
		return c.OldTarget + " → " + c.Target
	}
	return c.Target
}

// Cannot reports whether the test could not reach significance with so
// few repetitions whatever the values (5 against 5 can; 3 against 3
// cannot: the smallest two-sided p is then 0.1).
func (c Change) Cannot() bool { return minMannWhitneyP(c.N1, c.N2) > stats.Alpha }

// minMannWhitneyP is the smallest two-sided p of the exact test with n1
// and n2 samples: both orderings with no overlap, 2 / C(n1+n2, n1).
func minMannWhitneyP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return min(1, 2/c)
}

// WriteVerdict prints the --fail-on outcome: each regression and each
// cell that measured before and failed now, and what could not be
// judged. It returns whether the gate fails.
func WriteVerdict(w io.Writer, cs []Change, un []Unpaired, pct float64) bool {
	regs := Regressions(cs, pct)
	var broke []Unpaired
	for _, u := range un {
		if u.Broke {
			broke = append(broke, u)
		}
	}
	headline, cannot := 0, 0
	for _, c := range cs {
		if c.Headline {
			headline++
			if c.Cannot() {
				cannot++
			}
		}
	}
	fmt.Fprintf(w, "\n(--fail-on %g: a headline metric fails when Mann-Whitney U, α = %.2f, finds its new repetitions worse than the old ones made %g %% worse.)\n", pct, stats.Alpha, pct)
	fmt.Fprintf(w, "--fail-on %g %%: ", pct)
	if len(regs) == 0 && len(broke) == 0 {
		fmt.Fprintf(w, "ok: no headline metric significantly worse by more than %g %% (%d headline metrics compared).\n", pct, headline)
	} else {
		fmt.Fprintf(w, "FAIL: %d headline metrics significantly worse by more than %g %%, %d cells that measured before failed now.\n", len(regs), pct, len(broke))
		for _, r := range regs {
			fmt.Fprintf(w, "  worse: %s / %s: %s %s → %s %s (%+.1f %% worse; beyond %g %%: p=%.3f, n=%d+%d)\n", r.Scenario, r.pairName(), r.Metric,
				num(r.OldMedian), num(r.NewMedian), r.Unit, r.Pct, pct, r.Beyond.P, r.N1, r.N2)
		}
		for _, u := range broke {
			fmt.Fprintf(w, "  failed: %s / %s: %s\n", u.Scenario, u.pairName(), u.Reason)
		}
	}
	if cannot > 0 {
		fmt.Fprintf(w, "Warning: %d of %d headline metrics had too few repetitions to ever be significant (at least 4 against 4 are needed).\n", cannot, headline)
	}
	return len(regs) > 0 || len(broke) > 0
}

// WriteUnpaired lists the pairs that could not be compared.
func WriteUnpaired(w io.Writer, un []Unpaired) {
	if len(un) == 0 {
		return
	}
	fmt.Fprintf(w, "\nNot compared (%d):\n", len(un))
	for _, u := range un {
		fmt.Fprintf(w, "  %s / %s: %s\n", u.Scenario, u.pairName(), u.Reason)
	}
}

func (u Unpaired) pairName() string {
	if u.OldTarget != u.Target {
		return u.OldTarget + " → " + u.Target
	}
	return u.Target
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
		fmt.Fprintf(w, "| %s | %s | %s [%s] | %s | %s | %s | %.3f (n=%d+%d) | %s |\n", c.Scenario, c.pairName(), c.Metric, c.Unit,
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
					if !m.Headline || !ns.Divides(anchor, m) {
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
