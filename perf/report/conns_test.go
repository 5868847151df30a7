package report

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

func connsCell(target, kind string, rss, cpu, p99, setup float64) *result.Cell {
	s := func(v float64) stats.Summary { return stats.Summary{N: 5, Median: v, Lo: v * 0.9, Hi: v * 1.1} }
	return &result.Cell{Target: target, Kind: kind, Status: result.StatusOK, Summary: map[string]stats.Summary{
		"server_rss_kb_per_conn": s(rss), "server_cpu_us_per_conn_s": s(cpu), "p99_us": s(p99),
		"setup_conns_per_s": {N: 1, Median: setup, Lo: setup, Hi: setup},
	}}
}

func connsRun() *result.Run {
	point := func(n string, cells ...*result.Cell) *result.Scenario {
		return &result.Scenario{ID: "proxy-conns-" + n, Group: result.GroupConns, Title: "Proxy connection sweep " + n,
			Params:  map[string]string{"conns": map[string]string{"10k": "10000", "100k": "100000"}[n]},
			Metrics: []result.MetricDef{{Name: "server_rss_kb_per_conn", Unit: "KiB/conn", Lower: true, Headline: true}, {Name: "p99_us", Unit: "µs", Lower: true}},
			Anchors: []string{"direct", "haproxy"}, Cells: cells}
	}
	// Listed 100k first: the section orders the points by N.
	return &result.Run{ID: "t", Extra: map[string]string{"conns_limits": "RLIMIT_NOFILE 20000 soft / 20000 hard"}, Scenarios: []*result.Scenario{
		point("100k",
			connsCell("direct", result.KindAnchor, 9, 1, 300, 15000),
			&result.Cell{Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusAbsent, Reason: "needs 201024 descriptors"},
			connsCell("rawepoll", result.KindEngine, 2.5, 3, 900, 6000)),
		point("10k",
			connsCell("direct", result.KindAnchor, 10, 2, 200, 16000),
			connsCell("haproxy", result.KindAnchor, 3, 2.5, 250, 8000),
			connsCell("rawepoll", result.KindEngine, 2.6, 4, 400, 7000),
			&result.Cell{Target: "gnet", Kind: result.KindEngine, Status: result.StatusFailed, Reason: "connection 9001 of 10000: reset"}),
	}}
}

// TestConnsRows: a row per target and figure, a column per N ascending,
// cells that did not measure say so and their reasons follow.
func TestConnsRows(t *testing.T) {
	run := connsRun()
	head, rows := connsRows(run)
	if want := []string{"target", "figure", "N = 10k", "N = 100k"}; !slices.Equal(head, want) {
		t.Fatalf("head %v, want %v", head, want)
	}
	if len(rows) != 4*len(connsMetrics) {
		t.Fatalf("%d rows, want 4 targets × %d figures", len(rows), len(connsMetrics))
	}
	want := map[string][]string{
		"direct (anchor)|RSS per connection [KiB]":         {"10.0 (9.00–11.0)", "9.00 (8.10–9.90)"},
		"haproxy (anchor)|request p99 [µs]":                {"250 (225–275)", "absent"},
		"rawepoll|opening [conn/s] (one opening per cell)": {"7000", "6000"},
		"gnet|CPU per connection-second [CPU-µs]":          {"**FAILED**", ""},
		"rawepoll|CPU per connection-second [CPU-µs]":      {"4.00 (3.60–4.40)", "3.00 (2.70–3.30)"},
	}
	for _, r := range rows {
		if w, ok := want[r[0]+"|"+r[1]]; ok && !slices.Equal(r[2:], w) {
			t.Errorf("%s / %s: %v, want %v", r[0], r[1], r[2:], w)
		}
	}
	reasons := connsReasons(run)
	if len(reasons) != 2 || !strings.Contains(reasons[0], "N = 10k, gnet failed: connection 9001") || !strings.Contains(reasons[1], "N = 100k, haproxy absent: needs 201024") {
		t.Errorf("reasons %q", reasons)
	}
}

// TestConnsReport: the chart is drawn and the section carries it, the
// limits and each point's own table; a run without the sweep has none.
func TestConnsReport(t *testing.T) {
	run := connsRun()
	dir := t.TempDir()
	charts, err := writeCharts(run, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := charts[connsChartKey]; len(got) != 1 || got[0] != "conns-sweep.svg" {
		t.Fatalf("sweep chart %v", got)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "conns-sweep.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "rawepoll") {
		t.Fatalf("chart: %v", err)
	}
	md := build(run, charts, nil).markdown("")
	for _, want := range []string{"## Connections: cost against concurrent connections", "conns-sweep.svg", "Limits on this machine: RLIMIT_NOFILE 20000",
		"(`proxy-conns-10k`)", "(`proxy-conns-100k`)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if connsSections(&result.Run{}, nil) != nil {
		t.Error("a Connections section without a sweep")
	}
	// One point only (the default suite): still a chart.
	one := connsRun()
	one.Scenarios = one.Scenarios[1:]
	if ok, err := connsChart(one, filepath.Join(dir, "one.svg")); !ok || err != nil {
		t.Errorf("one-point chart: %v, %v", ok, err)
	}
}
