package report

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

// gateRun is a run.json as perf run --baseline HEAD~1 writes it: one
// scenario with a lower-is-better headline metric (p50), a shown-only one
// (p99) and a higher-is-better headline one (rate); the anchor, the
// engine and the engine at the baseline. metric's repetitions are old
// for eng@HEAD~1 and new for eng; the other metrics are equal.
func gateRun(metric string, old, new []float64, newStatus string) *result.Run {
	reps := func(vs []float64) []result.Rep {
		var out []result.Rep
		for i, v := range vs {
			m := map[string]float64{"p50_us": 20 + float64(i%3)*0.1, "p99_us": 50 + float64(i%2), "rate": 1000 + float64(i%3)}
			m[metric] = v
			out = append(out, result.Rep{Metrics: m})
		}
		return out
	}
	cell := func(target string, vs []float64, status string) *result.Cell {
		c := &result.Cell{Target: target, Kind: result.KindEngine, Status: status}
		if status == result.StatusOK {
			c.Reps = reps(vs)
			c.Summarize(0.95)
		} else {
			c.Reason = "start: exited before READY"
		}
		return c
	}
	anchor := cell("raw-tcp", []float64{10, 10, 10, 10, 10}, result.StatusOK)
	anchor.Kind = result.KindAnchor
	return &result.Run{Schema: result.Schema, ID: "2026-12-07T000000Z",
		Machine:  result.Machine{Commit: "2222222222222222222222222222222222222222"},
		Baseline: &result.Baseline{Rev: "HEAD~1", Label: "HEAD~1", Commit: "1111111111111111111111111111111111111111"},
		Scenarios: []*result.Scenario{{ID: "msgr-pingpong-4KiB-pinned", Anchors: []string{"raw-tcp"},
			Metrics: []result.MetricDef{
				{Name: "p50_us", Unit: "µs", Lower: true, Headline: true},
				{Name: "p99_us", Unit: "µs", Lower: true},
				{Name: "rate", Unit: "msg/s", Headline: true},
			},
			Cells: []*result.Cell{anchor, cell("eng", new, newStatus), cell("eng@HEAD~1", old, result.StatusOK)},
		}},
	}
}

// split is a baseline run as two runs: eng@HEAD~1 renamed eng in the old
// one, for the same judgement between two run.json files.
func split(run *result.Run) (old, new *result.Run) {
	mk := func(keep string) *result.Run {
		r := *run
		sc := *run.Scenarios[0]
		sc.Cells = nil
		for _, c := range run.Scenarios[0].Cells {
			if c.Target == keep || c.Kind == result.KindAnchor {
				cc := *c
				cc.Target, _ = result.SplitBaseline(c.Target)
				sc.Cells = append(sc.Cells, &cc)
			}
		}
		r.Scenarios = []*result.Scenario{&sc}
		r.Baseline = nil
		return &r
	}
	return mk("eng@HEAD~1"), mk("eng")
}

func scaled(vs []float64, f float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v * f
	}
	return out
}

// TestFailOn: the --fail-on gate flags a deliberate slowdown and nothing
// that is noise or too small, the same within one run (ENGINE@REV
// against ENGINE) as between two runs, read back from run.json.
func TestFailOn(t *testing.T) {
	p50 := []float64{20.1, 20.3, 19.8, 20.0, 20.2}
	rate := []float64{10000, 10100, 9900, 10050, 9950}
	spread := []float64{19, 19.5, 20, 20.5, 21}
	for _, tc := range []struct {
		name     string
		metric   string
		old, new []float64
		status   string
		pct      float64
		fail     bool
		worsePct float64 // of the flagged metric, when fail
		cannot   bool    // warned: too few repetitions to judge
	}{
		{name: "30 % slower p50 flagged", metric: "p50_us", old: p50, new: scaled(p50, 1.3), pct: 10, fail: true, worsePct: 30},
		{name: "30 % lower rate flagged", metric: "rate", old: rate, new: scaled(rate, 0.7), pct: 10, fail: true, worsePct: 30},
		{name: "no-op not flagged", metric: "p50_us", old: p50, new: []float64{20.2, 20.0, 20.3, 19.8, 20.1}, pct: 10},
		// Medians 22 → 26 (+18 %), but the repetitions overlap: the
		// confidence intervals hold both, Mann-Whitney p = 0.84.
		{name: "noise within CI not flagged", metric: "p50_us", old: []float64{18, 19, 22, 25, 30}, new: []float64{17, 21, 26, 27, 29}, pct: 10},
		{name: "significant 5 % under a 10 % threshold", metric: "p50_us", old: p50, new: scaled(p50, 1.05), pct: 10},
		{name: "significant 20 % over a 10 % threshold", metric: "p50_us", old: p50, new: scaled(p50, 1.2), pct: 10, fail: true, worsePct: 20},
		// 12 % worse, significantly worse than old (no overlap), but
		// not significantly worse than old made 10 % worse: not beyond
		// 10 %; beyond 0 % it is.
		{name: "12 % not shown beyond 10 %", metric: "p50_us", old: spread, new: scaled(spread, 1.12), pct: 10},
		{name: "12 % beyond 0 %", metric: "p50_us", old: spread, new: scaled(spread, 1.12), pct: 0, fail: true, worsePct: 12},
		{name: "30 % faster not flagged", metric: "p50_us", old: p50, new: scaled(p50, 0.7), pct: 10},
		{name: "p99 is shown, not judged", metric: "p99_us", old: []float64{50, 51, 50, 51, 50}, new: []float64{500, 510, 500, 510, 500}, pct: 10},
		{name: "3 repetitions cannot be significant", metric: "p50_us", old: p50[:3], new: scaled(p50[:3], 2), pct: 10, cannot: true},
		{name: "failed now flagged", metric: "p50_us", old: p50, status: result.StatusFailed, pct: 10, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status
			if status == "" {
				status = result.StatusOK
			}
			dir := t.TempDir()
			save := func(r *result.Run, name string) *result.Run {
				p := filepath.Join(dir, name+".json")
				if err := r.Save(p); err != nil {
					t.Fatal(err)
				}
				back, err := result.Load(p)
				if err != nil {
					t.Fatal(err)
				}
				return back
			}
			run := save(gateRun(tc.metric, tc.old, tc.new, status), "within")
			o, n := split(run)
			o, n = save(o, "old"), save(n, "new")
			for _, mode := range []struct {
				name  string
				cs    []Change
				un    []Unpaired
				shown string
			}{
				{"within one run", CompareBaseline(run), UnpairedBaseline(run), "eng@HEAD~1 → eng"},
				{"two runs", Compare(o, n), UnpairedRuns(o, n), "/ eng:"},
			} {
				var b bytes.Buffer
				fail := WriteVerdict(&b, mode.cs, mode.un, tc.pct)
				out := b.String()
				if fail != tc.fail {
					t.Fatalf("%s: fail %v, want %v:\n%s", mode.name, fail, tc.fail, out)
				}
				if got := strings.Contains(out, "too few repetitions"); got != tc.cannot {
					t.Fatalf("%s: too-few warning %v, want %v:\n%s", mode.name, got, tc.cannot, out)
				}
				if !tc.fail {
					if !strings.Contains(out, "ok: no headline metric") {
						t.Fatalf("%s: verdict:\n%s", mode.name, out)
					}
					continue
				}
				if !strings.Contains(out, "FAIL") || !strings.Contains(out, mode.shown) {
					t.Fatalf("%s: verdict does not say which:\n%s", mode.name, out)
				}
				if tc.status == result.StatusFailed {
					if !strings.Contains(out, "failed: msgr-pingpong-4KiB-pinned / eng") {
						t.Fatalf("%s: broken cell not named:\n%s", mode.name, out)
					}
					continue
				}
				regs := Regressions(mode.cs, tc.pct)
				if len(regs) != 1 || regs[0].Metric != tc.metric || math.Abs(regs[0].Pct-tc.worsePct) > 0.5 {
					t.Fatalf("%s: regressions %+v, want %s %.0f %% worse", mode.name, regs, tc.metric, tc.worsePct)
				}
				if !strings.Contains(out, tc.metric) {
					t.Fatalf("%s: verdict does not name %s:\n%s", mode.name, tc.metric, out)
				}
			}
		})
	}
}

// TestCompareBaselineLists: the within-run table lists the engine at both
// commits, and what could not be compared says why.
func TestCompareBaselineLists(t *testing.T) {
	run := gateRun("p50_us", []float64{20, 21, 22, 23, 24}, []float64{20, 21, 22, 23, 24}, result.StatusOK)
	sc := run.Scenarios[0]
	sc.Cells = append(sc.Cells, &result.Cell{Target: "other", Kind: result.KindEngine, Status: result.StatusOK},
		&result.Cell{Target: "other@HEAD~1", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "no impl-other at HEAD~1"})
	// A core sweep's points pair too: eng@HEAD~1/w2 with eng/w2.
	sweep := *sc.Cell("eng")
	sweep.Target = "eng/w2"
	oldSweep := *sc.Cell("eng@HEAD~1")
	oldSweep.Target = "eng@HEAD~1/w2"
	sc.Cells = append(sc.Cells, &sweep, &oldSweep)
	if got := BaselineTargets(run); strings.Join(got, ",") != "eng@HEAD~1,other@HEAD~1,eng@HEAD~1/w2" {
		t.Fatalf("baseline targets %q", got)
	}
	var b bytes.Buffer
	WriteComparison(&b, "old", "new", CompareBaseline(run))
	WriteUnpaired(&b, UnpairedBaseline(run))
	out := b.String()
	for _, want := range []string{
		"| msgr-pingpong-4KiB-pinned | eng@HEAD~1 → eng | p50_us [µs] |",
		"| msgr-pingpong-4KiB-pinned | eng@HEAD~1 → eng | rate [msg/s] |",
		"| msgr-pingpong-4KiB-pinned | eng@HEAD~1 → eng | p99_us [µs] |",
		"other@HEAD~1 → other: other@HEAD~1 absent: no impl-other at HEAD~1",
		"| msgr-pingpong-4KiB-pinned | eng@HEAD~1/w2 → eng/w2 | p50_us [µs] |",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "raw-tcp") {
		t.Fatalf("the anchor is compared with itself:\n%s", out)
	}
	// An absent baseline is not a regression: the engine is new.
	if WriteVerdict(&bytes.Buffer{}, CompareBaseline(run), UnpairedBaseline(run), 10) {
		t.Fatal("an engine missing at the baseline fails the gate")
	}
}
