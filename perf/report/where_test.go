package report

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/cpuprof"
	"github.com/netmodels/netmodels/perf/cpuprof/cpuproftest"
	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// writeProfile writes a CPU profile (1 ms period) with the given stacks
// (leaf first), each n samples.
func writeProfile(t *testing.T, path string, stacks [][]string, n []int64) {
	t.Helper()
	cpu := make([]int64, len(n))
	for i := range n {
		cpu[i] = n[i] * 1e6
	}
	b, err := cpuproftest.Profile(1e6, stacks, cpu)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func whereRun() *result.Run {
	one := func(v float64) stats.Summary { return stats.Summary{N: 5, Median: v, Lo: v, Hi: v, Min: v, Max: v} }
	rep := func(user, sys float64, extra map[string]float64) result.Rep {
		m := map[string]float64{result.MetricUserS: user, result.MetricSysS: sys}
		for k, v := range extra {
			m[k] = v
		}
		return result.Rep{Metrics: m}
	}
	heap := map[string]float64{result.MetricHeapBytesUnit: 64, result.MetricAllocsUnit: 2, result.MetricGCCycles: 1,
		result.MetricGoroutinesUnit: 3, result.MetricVolSwitchesUnit: 5}
	engine := &result.Cell{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK,
		Reps: []result.Rep{rep(0.3, 0.1, heap), rep(0.3, 0.1, heap)},
		Profile: &result.Profile{Rep: 1, HZ: 1000, Samples: 100, CPUNS: 100e6,
			ClassNS: map[string]int64{cpuprof.Syscall: 30e6, cpuprof.Protocol: 40e6, cpuprof.GC: 10e6, cpuprof.Sched: 20e6},
			File:    "profile-proxy-pingpong-64B-pinned-goroutine.pb.gz"}}
	engine.Summarize(0.95)
	engine.Summary["server_cpu_us_per_msg"] = one(20)
	anchor := &result.Cell{Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusOK,
		Reps: []result.Rep{rep(0.1, 0.3, map[string]float64{result.MetricVolSwitchesUnit: 4}), rep(0.1, 0.3, map[string]float64{result.MetricVolSwitchesUnit: 4})}}
	anchor.Summarize(0.95)
	anchor.Summary["server_cpu_us_per_msg"] = one(10)
	failed := &result.Cell{Target: "gnet", Kind: result.KindEngine, Status: result.StatusFailed, Reason: "boom"}
	cpu := result.MetricDef{Name: "server_cpu_us_per_msg", Unit: "CPU-µs/msg", Lower: true, Headline: true}
	return &result.Run{Schema: result.Schema, ID: "2026-01-02T030405Z", Suite: "canned", Method: result.Method{Reps: 2, Confidence: 0.95},
		Scenarios: []*result.Scenario{
			{ID: "proxy-pingpong-64B-pinned", Group: "proxy", Title: "Ping-pong", Headline: true, Unit: "msg",
				Metrics: []result.MetricDef{cpu}, Anchors: []string{"haproxy"}, Cells: []*result.Cell{anchor, engine, failed}},
			// Not a headline scenario: no section.
			{ID: "proxy-pingpong-64B-unpinned", Group: "proxy", Title: "Ping-pong unpinned", Unit: "msg",
				Metrics: []result.MetricDef{cpu}, Cells: []*result.Cell{{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK}}},
		}}
}

func TestWhereSection(t *testing.T) {
	dir := t.TempDir()
	run := whereRun()
	nm := "github.com/netmodels/netmodels/"
	writeProfile(t, filepath.Join(dir, "profile-proxy-pingpong-64B-pinned-goroutine.pb.gz"), [][]string{
		{"internal/runtime/syscall/linux.Syscall6", "syscall.write", nm + "impl-goroutine.(*conn).run"},
		{nm + "core/proxy.(*session).forward", nm + "impl-goroutine.(*conn).run"},
		{"runtime.mallocgc", nm + "core/proxy.(*session).forward", nm + "impl-goroutine.(*conn).run"},
		{"runtime.findRunnable", "runtime.schedule"},
		{"tiny<&>", "runtime.schedule"}, // below the drawing threshold, and needs escaping
	}, []int64{300, 400, 100, 200, 1})
	if err := Render(run, dir, true); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	if n := strings.Count(text, "#### Where the time goes"); n != 1 {
		t.Fatalf("%d where sections, want 1 (headline scenarios only):\n%s", n, text)
	}
	if !strings.Contains(text, "## Where the time goes: method") || !strings.Contains(text, "runtime.mallocgc…") {
		t.Error("no method section with the rules")
	}
	// goroutine: 20 µs/msg, kernel share 0.2/0.8 = 25 % = 5 µs; syscall
	// samples 30 % − 25 % = 5 % = 1 µs; the rest (14 µs) over 40:10:20.
	for _, want := range []string{
		"| goroutine | 20.0 | 5.00 (25 %) | 4.00 (20 %) | 2.00 (10 %) | 1.000 (5 %) | 8.00 (40 %) | 0 (0 %) | 0 (0 %) | 0 (0 %) |  | 64.0 | 2.00 | 1.00 | 3.00 | 5.00 | 100 (±5 pts) | [SVG](flame-proxy-pingpong-64B-pinned-goroutine.svg) |",
		// haproxy: kernel 75 % of 10 µs, the rest user, not profiled.
		"| haproxy (anchor) | 10.0 | 7.50 (75 %) |  |  |  |  |  |  |  | 2.50 (25 %) |  |  |  |  | 4.00 |  |  |",
		"| gnet | **FAILED** |",
		"heap B/msg",
		"voluntary ctx switches/msg",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(string(page), `<a href="flame-proxy-pingpong-64B-pinned-goroutine.svg">SVG</a>`) {
		t.Error("index.html does not link the flame graph")
	}
	if strings.Contains(string(page), "<svg") {
		t.Error("index.html inlines an SVG")
	}
	svg, err := os.ReadFile(filepath.Join(dir, "flame-proxy-pingpong-64B-pinned-goroutine.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg)
	s := string(svg)
	for _, want := range []string{"core/proxy.(*session).forward (50.0 %, 500 samples)", "<title>all (100.0 %, 1001 samples)</title>", "impl-goroutine.(*conn).run"} {
		if !strings.Contains(s, want) {
			t.Errorf("flame graph lacks %q", want)
		}
	}
	if strings.Contains(s, "tiny") {
		t.Error("a frame under the threshold was drawn")
	}
	// results/README.md links into latest/.
	if md := build(run, nil, map[string]map[string]string{"proxy-pingpong-64B-pinned": {"goroutine": "flame-x.svg"}}).markdown("latest/"); !strings.Contains(md, "[SVG](latest/flame-x.svg)") {
		t.Error("README link not prefixed")
	}
	// Re-rendering without the profile file keeps the table, drops the link.
	os.Remove(filepath.Join(dir, "profile-proxy-pingpong-64B-pinned-goroutine.pb.gz"))
	md2 := build(run, nil, nil).markdown("")
	if !strings.Contains(md2, "| goroutine | 20.0 | 5.00 (25 %)") || strings.Contains(md2, "[SVG]") {
		t.Error("without flame graphs: table or link wrong")
	}
}

// checkXML fails unless b is well-formed XML.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("flame graph is not well-formed XML: %v", err)
		}
	}
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/a/impl-gnet.(*conn).flush":     "impl-gnet.(*conn).flush",
		"runtime.mallocgc":                         "runtime.mallocgc",
		"slices.Sort[go.shape.[]github.com/a/b.T]": "slices.Sort[go.shape.[]github.com/a/b.T]",
	} {
		if got := shortName(in); got != want {
			t.Errorf("shortName(%q) = %q, want %q", in, got, want)
		}
	}
}
