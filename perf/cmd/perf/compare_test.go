package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

// baselineRun is a --baseline run whose engine is f times its baseline's
// p50 (5 repetitions each).
func baselineRun(f float64) *result.Run {
	cell := func(target string, f float64) *result.Cell {
		c := &result.Cell{Target: target, Kind: result.KindEngine, Status: result.StatusOK}
		for i := range 5 {
			c.Reps = append(c.Reps, result.Rep{Metrics: map[string]float64{"p50_us": f * (20 + float64(i)*0.1)}})
		}
		c.Summarize(0.95)
		return c
	}
	return &result.Run{Schema: result.Schema, ID: "2026-12-07T000000Z",
		Baseline: &result.Baseline{Rev: "HEAD~1", Label: "HEAD~1", Commit: "1111111111111111111111111111111111111111"},
		Scenarios: []*result.Scenario{{ID: "proxy-pingpong-64B-pinned",
			Metrics: []result.MetricDef{{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}},
			Cells:   []*result.Cell{cell("eng", f), cell("eng@HEAD~1", 1)}}}}
}

// TestCompareExitCodes: 0 ok, 1 regression (only with --fail-on), 2
// usage or read error; flags before or after the runs.
func TestCompareExitCodes(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, r *result.Run) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.Save(filepath.Join(p, "run.json")); err != nil {
			t.Fatal(err)
		}
		return p
	}
	slow, same := save("slow", baselineRun(1.3)), save("same", baselineRun(1))
	plain := baselineRun(1)
	plain.Baseline = nil
	plain.Scenarios[0].Cells = plain.Scenarios[0].Cells[:1]
	noBaseline := save("plain", plain)
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, out
	defer func() { os.Stdout, os.Stderr = stdout, stderr }()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{slow}, 0}, // without --fail-on noise or not never fails
		{[]string{"--fail-on", "10", slow}, 1},
		{[]string{slow, "--fail-on", "10"}, 1},
		{[]string{"--fail-on", "40", slow}, 0},
		{[]string{"--fail-on", "10", same}, 0},
		{[]string{"--fail-on", "10", same, same}, 0},
		{[]string{"--fail-on", "10", same, slow}, 1}, // two runs: eng 1 → 1.3 (eng@HEAD~1 with itself)
		{[]string{same, slow}, 0},
		{[]string{}, 2},
		{[]string{"--fail-on", "-1", slow}, 2},
		{[]string{"--fail-on", "ten", slow}, 2},
		{[]string{"--fail-on", "10", filepath.Join(dir, "nothing")}, 2},
		{[]string{"--fail-on", "10", noBaseline}, 2},
		{[]string{same, same, same}, 2},
	} {
		if got := cmdCompare(tc.args); got != tc.want {
			t.Errorf("perf compare %s: exit %d, want %d", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
