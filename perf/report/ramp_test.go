package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

// rampCell is a ramp cell whose p99 rises through the 1 ms bound at the
// fourth of five steps, in every repetition.
func rampCell(target, kind string, sat float64) *result.Cell {
	c := &result.Cell{Target: target, Kind: kind, Status: result.StatusOK, Ramp: &result.Ramp{BoundUS: 1000}}
	p99s := []float64{40, 50, 200, 3000, 30000}
	for i, f := range []float64{0.2, 0.4, 0.6, 0.8, 1.0} {
		st := result.RampStep{Fraction: f}
		for rep := 0; rep < 3; rep++ {
			achieved := f * sat * (1 - 0.01*float64(rep))
			st.Reps = append(st.Reps, result.Rep{Metrics: map[string]float64{"rate": achieved, "offered_per_s": f * sat, "p50_us": 20 + float64(i), "p99_us": p99s[i]}})
		}
		c.Ramp.Steps = append(c.Ramp.Steps, st)
	}
	for rep := 0; rep < 3; rep++ {
		c.Reps = append(c.Reps, result.Rep{Metrics: map[string]float64{"knee_per_s": 0.6 * sat * (1 - 0.01*float64(rep)), "probe_per_s": sat}})
	}
	c.Summarize(0.95)
	c.Ramp.Summarize(0.95)
	return c
}

func TestRampChartAndTable(t *testing.T) {
	run := cannedRun(1)
	sc := &result.Scenario{ID: "proxy-ramp-64B-pinned", Group: "proxy", Title: "Proxy ramp", Pinned: true,
		Metrics: []result.MetricDef{{Name: "knee_per_s", Unit: "msg/s", Headline: true}, {Name: "probe_per_s", Unit: "msg/s"}},
		Anchors: []string{"direct", "haproxy"},
		Cells: []*result.Cell{rampCell("direct", result.KindAnchor, 40000), rampCell("haproxy", result.KindAnchor, 20000),
			rampCell("goroutine", result.KindEngine, 25000),
			{Target: "rawepoll", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "not built"}}}
	run.Scenarios = append(run.Scenarios, sc)

	p99, p50 := rampCurves(sc.Cell("goroutine"))
	if len(p99) != 5 || len(p50) != 5 || p99[3].Y != 3000 || p99[2].X != 0.6*25000*0.99 {
		t.Fatalf("curves p99 %v p50 %v", p99, p50)
	}
	if a, b := rampCurves(sc.Cell("rawepoll")); a != nil || b != nil {
		t.Fatal("an absent cell has no curve")
	}

	dir := t.TempDir()
	if err := Write(run, dir); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "ramp-proxy-ramp-64B-pinned.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"goroutine", "direct (anchor)", "haproxy (anchor)", "knee bound: p99 1000 µs", "achieved rate [msg/s]", "p50: thin, dashed"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ramp-proxy-ramp-64B-pinned.svg", "knee_per_s ÷ direct", "knee_per_s ÷ haproxy"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// Scenarios without ramps draw none.
	if m, _ := filepath.Glob(filepath.Join(dir, "ramp-*.svg")); len(m) != 1 {
		t.Fatalf("ramp charts %v", m)
	}
}

func TestPlainTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi         float64
		first, stepped string
		labels         int
	}{
		{0, 30000, "0", "5000", 7},
		{0, 2500, "0", "500", 6},
		{1200, 9800, "2000", "3000", 8},
	} {
		var labels []string
		for _, tk := range (plainTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if len(labels) != tc.labels || labels[0] != tc.first || labels[1] != tc.stepped {
			t.Errorf("ticks over %v-%v: %v; want %d labels from %s, %s", tc.lo, tc.hi, labels, tc.labels, tc.first, tc.stepped)
		}
	}
}
