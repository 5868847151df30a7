package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

func coreCell(target, kind string, rate, lo, hi, server, client, busy float64, n int) *result.Cell {
	s := func(v float64) stats.Summary { return stats.Summary{N: 5, Median: v, Lo: v, Hi: v} }
	return &result.Cell{Target: target, Kind: kind, Status: result.StatusOK, Summary: map[string]stats.Summary{
		"conns_per_s":      {N: 5, Median: rate, Lo: lo, Hi: hi},
		"rate_per_core":    {N: 5, Median: rate / float64(n), Lo: lo / float64(n), Hi: hi / float64(n)},
		"server_cores":     s(server),
		"client_cores":     s(client),
		"machine_busy_pct": s(busy),
	}}
}

func coreRun() *result.Run {
	sweep := &result.Scenario{ID: "cores-proxy-connrate", Group: result.GroupCores, Title: "Core sweep",
		Params:  map[string]string{"workers": "1,2", "nproc": "2"},
		Metrics: []result.MetricDef{{Name: "conns_per_s", Unit: "conn/s", Headline: true}, {Name: "rate_per_core", Unit: "conn/s per core"}},
		Cells: []*result.Cell{
			coreCell("direct", result.KindAnchor, 10000, 9000, 11000, 0.8, 1.0, 95, 1),
			coreCell("haproxy/t1", result.KindAnchor, 5000, 4800, 5200, 0.95, 0.5, 80, 1),
			coreCell("haproxy/t2", result.KindAnchor, 8000, 7600, 8400, 1.2, 0.7, 97, 2),
			coreCell("rawepoll/w1", result.KindEngine, 4000, 3900, 4100, 0.7, 0.4, 60, 1),
			coreCell("rawepoll/w2", result.KindEngine, 4000, 3900, 4100, 0.7, 0.4, 60, 2),
			{Target: "gnet/w1", Kind: result.KindEngine, Status: result.StatusFailed, Reason: "boom"},
		}}
	plain := &result.Scenario{ID: "proxy-connrate", Group: "proxy", Metrics: []result.MetricDef{{Name: "conns_per_s", Unit: "conn/s", Headline: true}},
		Anchors: []string{"haproxy"}, Headline: true,
		Cells: []*result.Cell{coreCell("haproxy", result.KindAnchor, 1, 1, 1, 1, 1, 1, 1), coreCell("rawepoll", result.KindEngine, 1, 1, 1, 1, 1, 1, 1)}}
	return &result.Run{ID: "t", Scenarios: []*result.Scenario{plain, sweep}}
}

func TestCoreRows(t *testing.T) {
	rows := coreRows(coreRun().Scenarios[1])
	want := map[string][]string{
		"direct/–":   {"10000 (9000–11000)", "–", "–"},
		"haproxy/1":  {"5000 (4800–5200)", "5000 (4800–5200)", "reference"},
		"haproxy/2":  {"8000 (7600–8400)", "4000 (3800–4200)", "80.0 % (73.1 %–87.5 %)"},
		"rawepoll/2": {"4000 (3900–4100)", "2000 (1950–2050)", "50.0 % (47.6 %–52.6 %)"},
		"gnet/1":     {"**FAILED**: boom"},
		"rawepoll/1": {"4000 (3900–4100)", "4000 (3900–4100)", "reference"},
	}
	limits := map[string]string{
		"haproxy/1":  "target (0.950 of its 1 cores busy)",
		"haproxy/2":  "machine (97.0 % of the CPUs busy; client 0.700, target 1.20 cores)",
		"rawepoll/2": "neither (60.0 % of the CPUs busy; client 0.400, target 0.700 cores)",
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		key := r[0] + "/" + r[1]
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected row %v", r)
			continue
		}
		for i, v := range w {
			if !strings.HasPrefix(r[2+i], v) {
				t.Errorf("%s column %d = %q, want %q", key, 2+i, r[2+i], v)
			}
		}
		if l, ok := limits[key]; ok && r[len(r)-1] != l {
			t.Errorf("%s limit %q, want %q", key, r[len(r)-1], l)
		}
	}
}

// TestCoresReport: the sweep has its own section and chart, and its
// points stay out of the overview and headline-ratio tables.
func TestCoresReport(t *testing.T) {
	run := coreRun()
	dir := t.TempDir()
	charts, err := writeCharts(run, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := charts["cores-proxy-connrate"]; len(got) != 1 || got[0] != "sweep-cores-proxy-connrate.svg" {
		t.Fatalf("sweep charts %v", got)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "sweep-cores-proxy-connrate.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("chart: %v", err)
	}
	md := build(run, charts, nil).markdown("")
	if !strings.Contains(md, "## Cores: rate against workers") || !strings.Contains(md, "sweep-cores-proxy-connrate.svg") {
		t.Error("no Cores section with its chart")
	}
	for _, s := range []section{matrix(run), ratioMatrix(run)} {
		for _, h := range s.tables[0].head {
			if strings.Contains(h, "/w") || strings.Contains(h, "/t") {
				t.Errorf("%s: sweep point %q as a column", s.title, h)
			}
		}
		for _, r := range s.tables[0].rows {
			if strings.HasPrefix(r[0], "cores-") {
				t.Errorf("%s: sweep scenario as a row", s.title)
			}
		}
	}
	if coresSections(&result.Run{}, nil) != nil {
		t.Error("a Cores section without a sweep")
	}
}
