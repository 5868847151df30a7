package result

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	run := &Run{Schema: Schema, ID: "x", Scenarios: []*Scenario{{ID: "s", Cells: []*Cell{{Target: "a", Status: StatusOK,
		Reps: []Rep{{Metrics: map[string]float64{"m": 1}}, {Metrics: map[string]float64{"m": 3}}, {Metrics: map[string]float64{"m": 2}}}}}}}}
	run.Scenarios[0].Cells[0].Summarize(0.95)
	if err := run.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := back.Scenarios[0].Cell("a")
	if c == nil || c.Summary["m"].Median != 2 || c.Summary["m"].N != 3 || back.Scenarios[0].Cell("b") != nil {
		t.Fatalf("round trip: %+v", c)
	}
}

func TestLoadRejectsOtherSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	os.WriteFile(path, []byte(`{"schema": 999}`), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "schema 999") {
		t.Fatalf("want a schema error, got %v", err)
	}
}

func TestValuesSkipsNaNAndMissing(t *testing.T) {
	c := &Cell{Reps: []Rep{{Metrics: map[string]float64{"m": math.NaN()}}, {Metrics: map[string]float64{}}, {Metrics: map[string]float64{"m": 4}}}}
	if v := c.Values("m"); len(v) != 1 || v[0] != 4 {
		t.Fatalf("values %v", v)
	}
}

func TestDivides(t *testing.T) {
	sc := &Scenario{Anchors: []string{"direct", "haproxy"}, LoadOnly: []string{"direct"}}
	for _, tc := range []struct {
		anchor, metric string
		want           bool
	}{
		{"direct", "gbps", true},
		{"direct", "p50_us", true},
		{"direct", "server_cpu_s_per_gb", false},
		{"direct", "server_rss_kb_per_conn", false},
		{"haproxy", "server_cpu_s_per_gb", true},
		{"haproxy", "gbps", true},
	} {
		if got := sc.Divides(tc.anchor, MetricDef{Name: tc.metric}); got != tc.want {
			t.Errorf("Divides(%s, %s) = %v, want %v", tc.anchor, tc.metric, got, tc.want)
		}
	}
	// Runs from before load_only_anchors: every headline ratio, as then.
	old := &Scenario{Anchors: []string{"direct"}}
	if !old.Divides("direct", MetricDef{Name: "server_cpu_s_per_gb"}) {
		t.Error("a scenario without LoadOnly divides everything")
	}
}
