package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// cannedRun is a small run as the harness would write it: one latency
// scenario (anchor, a working engine, an absent and a failed one), one
// throughput scenario and the throttling scenario with its time series.
func cannedRun(scale float64) *result.Run {
	reps := func(m string, vs ...float64) []result.Rep {
		out := make([]result.Rep, len(vs))
		for i, v := range vs {
			out[i] = result.Rep{Metrics: map[string]float64{m: v * scale}}
		}
		return out
	}
	throttleReps := reps("held_max_over_limit", 1, 1, 1, 1, 1)
	for i := range throttleReps {
		throttleReps[i].Metrics["wakeup_p50_us"] = float64(11+i) * scale
		throttleReps[i].Metrics["wakeup_p99_us"] = float64(80+i) * scale
	}
	h := stats.NewLatencyHist()
	for i := 1; i <= 1000; i++ {
		stats.RecordLatency(h, time.Duration(20+i%50)*time.Microsecond)
	}
	hist, _ := stats.EncodeHist(h)
	p50 := result.MetricDef{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}
	gbps := result.MetricDef{Name: "gbps", Unit: "Gbit/s", Headline: true}
	run := &result.Run{
		Schema: result.Schema, ID: "2026-01-02T030405Z", Suite: "canned",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Finished: time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC),
		Machine:      result.Machine{Hostname: "box", CPUModel: "Test CPU 9000", CPUs: 2, Kernel: "6.1.0", GoVersion: "go1.26", Commit: "abc123"},
		ClientEngine: "goroutine",
		Method:       result.Method{Reps: 5, DurationS: 1, Confidence: 0.95, PinCPU: 1, Taskset: true},
		Targets: []result.TargetInfo{
			{Name: "goroutine", Kind: result.KindEngine, Available: true, Version: "goroutine 0.1.0", Tuning: map[string]string{"workers": "1"}},
			{Name: "rawepoll", Kind: result.KindEngine, Reason: "not built: bin/rawepoll missing"},
		},
		ProxyConfig: "global\n    maxconn 100\n",
		Scenarios: []*result.Scenario{
			{ID: "msgr-pingpong-4KiB-pinned", Group: "messenger", Title: "Ping-pong 4KiB", Pinned: true,
				Metrics: []result.MetricDef{p50}, Anchors: []string{"raw-tcp"},
				Cells: []*result.Cell{
					{Target: "raw-tcp", Kind: result.KindAnchor, Status: result.StatusOK, Reps: reps("p50_us", 10, 10, 10, 10, 10), Hist: hist},
					{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK, Reps: reps("p50_us", 20, 20, 20, 20, 20), Server: "goroutine msgr-server --listen 127.0.0.1:0"},
					{Target: "rawepoll", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "not built: bin/rawepoll missing"},
					{Target: "gnet", Kind: result.KindEngine, Status: result.StatusFailed, Reason: "start gnet msgr-server: exited before READY"},
				}},
			{ID: "proxy-stream-1", Group: "proxy", Title: "Stream", Metrics: []result.MetricDef{gbps}, Anchors: []string{"direct", "haproxy"},
				Cells: []*result.Cell{
					{Target: "direct", Kind: result.KindAnchor, Status: result.StatusOK, Reps: reps("gbps", 20, 19, 21, 20, 20)},
					{Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusOK, Reps: reps("gbps", 8, 8, 8, 8, 8)},
					{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK, Reps: reps("gbps", 10, 10, 10, 10, 10)},
				}},
			{ID: "msgr-throttle", Group: "messenger", Title: "Throttle", Params: map[string]string{"throttle_bytes": "1048576", "size": "65536"},
				Metrics: []result.MetricDef{{Name: "held_max_over_limit", Unit: "× limit", Lower: true, Headline: true}},
				Cells: []*result.Cell{{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK,
					Reps:   throttleReps,
					Series: []result.SeriesPoint{{T: 0, Value: 0, Limit: 1 << 20}, {T: 0.01, Value: 1 << 20, Limit: 1 << 20}, {T: 0.02, Value: 900000, Limit: 1 << 20}}}}},
		},
	}
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			if c.Status == result.StatusOK {
				c.Summarize(0.95)
			}
		}
	}
	return run
}

func TestWriteReportFromCannedRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	run := cannedRun(1)
	run.Scenarios[1].Headline = true
	runDir := filepath.Join(dir, run.ID)
	if err := Write(run, runDir); err != nil {
		t.Fatal(err)
	}
	// An older run's folder, with the page harnesses used to write for
	// every run.
	oldDir := filepath.Join(dir, "2025-12-31T000000Z")
	old := cannedRun(1)
	old.ID = "2025-12-31T000000Z"
	if err := Write(old, oldDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(oldDir, "index.html"), []byte("<html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "report.md",
		"latency-msgr-pingpong-4KiB-pinned.svg", "bars-proxy-stream-1-gbps.svg", "throttle-msgr-throttle.svg"} {
		b, err := os.ReadFile(filepath.Join(runDir, f))
		if err != nil {
			t.Fatalf("%s not written: %v", f, err)
		}
		if strings.HasSuffix(f, ".svg") && !bytes.Contains(b, []byte("<svg")) {
			t.Fatalf("%s is not an SVG", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(runDir, "report.md"))
	for _, want := range []string{
		"Test CPU 9000", "6.1.0", "go1.26", "abc123", // machine and commit in every report
		"| goroutine | ok | 20.0 |",           // the engine's median
		"2.00× (2.00–2.00)",                   // p50 ÷ raw-tcp
		"0.500× (0.476–0.526)",                // gbps ÷ direct: 10 / 20 with direct's CI 19–21
		"1.25× (1.25–1.25)",                   // gbps ÷ haproxy
		"| rawepoll | absent |",               // absent engines stay visible
		"**FAILED**",                          // failed cells are marked
		"exited before READY",                 // with their reason
		"no: not built: bin/rawepoll missing", // in the targets table too
		"workers: 1",                          // tuning is published
		"maxconn 100",                         // the proxy config is published
		"![latency-msgr-pingpong-4KiB-pinned.svg](latency-msgr-pingpong-4KiB-pinned.svg)",
		"goroutine: highest bytes held in any repetition = 1.00× limit, within the bound limit + one message = 1.06× limit",
		"goroutine: wake-up latency after a throttle release (release → paused reader running again), median over repetitions: p50 13.0 µs, p99 82.0 µs",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The HTML page is for latest only (Publish).
	if _, err := os.Stat(filepath.Join(runDir, "index.html")); !os.IsNotExist(err) {
		t.Errorf("index.html written in the run's folder: %v", err)
	}
	back, err := result.Load(filepath.Join(runDir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Scenarios[0].Cells[0].Hist == "" || len(back.Scenarios[2].Cells[0].Series) != 3 {
		t.Fatal("run.json lost the histogram or the series")
	}

	if err := Publish(run, dir, runDir); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"](latest/latency-msgr-pingpong-4KiB-pinned.svg)", "- [2026-01-02T030405Z](2026-01-02T030405Z/report.md) — canned suite, 3 scenarios"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "run.json")); err != nil {
		t.Fatal("latest/ not populated")
	}
	page, _ := os.ReadFile(filepath.Join(dir, "latest", "index.html"))
	if !bytes.Contains(page, []byte(`<img src="bars-proxy-stream-1-gbps.svg"`)) || !bytes.Contains(page, []byte("<b>FAILED</b>")) {
		t.Error("latest/index.html lacks the chart or the failure mark")
	}
	if strings.Contains(string(readme), "/index.html), [raw]") || !strings.Contains(string(readme), "(latest/index.html)") {
		t.Errorf("README.md should link the page of latest only:\n%s", readme)
	}
	for _, d := range []string{runDir, oldDir} {
		if _, err := os.Stat(filepath.Join(d, "index.html")); !os.IsNotExist(err) {
			t.Errorf("%s/index.html left after Publish: %v", filepath.Base(d), err)
		}
		if _, err := os.Stat(filepath.Join(d, "report.md")); err != nil {
			t.Errorf("%s lost its report.md: %v", filepath.Base(d), err)
		}
	}
	// `perf report --html` (make report RUN=...) renders any run's page
	// again from its run.json.
	if err := Render(old, oldDir, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(oldDir, "index.html")); err != nil {
		t.Errorf("Render with HTML: %v", err)
	}
}

func TestCompareRuns(t *testing.T) {
	old, same, slower := cannedRun(1), cannedRun(1), cannedRun(1)
	// Jitter so the samples are not all tied, then make one clearly worse.
	for i, r := range same.Scenarios[1].Cells[2].Reps {
		r.Metrics["gbps"] += float64(i%2) * 0.01
	}
	for i, r := range slower.Scenarios[1].Cells[2].Reps {
		r.Metrics["gbps"] = 5 + float64(i)*0.1
	}
	find := func(cs []Change, sc, tg string) Change {
		for _, c := range cs {
			if c.Scenario == sc && c.Target == tg {
				return c
			}
		}
		t.Fatalf("no change for %s/%s", sc, tg)
		return Change{}
	}
	if c := find(Compare(old, same), "proxy-stream-1", "goroutine"); c.Delta != "~" {
		t.Errorf("noise reported as a change: %+v", c)
	}
	c := find(Compare(old, slower), "proxy-stream-1", "goroutine")
	if c.Delta != "-48.00%" || !c.Significant {
		t.Fatalf("halved throughput: %+v", c)
	}
	var b bytes.Buffer
	WriteComparison(&b, old.ID, slower.ID, Compare(old, slower))
	if !strings.Contains(b.String(), "| proxy-stream-1 | goroutine | gbps [Gbit/s] | 10.0 | 5.20 | -48.00% |") ||
		!strings.Contains(b.String(), "| worse |") {
		t.Fatalf("comparison table:\n%s", b.String())
	}
}

func TestCompareRatios(t *testing.T) {
	old, slower := cannedRun(1), cannedRun(1)
	slower.Scenarios[0].Headline = true
	for _, r := range slower.Scenarios[1].Cells[2].Reps {
		r.Metrics["gbps"] = 5
	}
	slower.Scenarios[1].Cells[2].Summarize(0.95)
	rs := CompareRatios(old, slower)
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s/%s/%s÷%s %.2f→%.2f", r.Scenario, r.Target, r.Metric, r.Anchor, r.Old, r.New))
	}
	want := []string{
		"msgr-pingpong-4KiB-pinned/goroutine/p50_us÷raw-tcp 2.00→2.00",
		"proxy-stream-1/goroutine/gbps÷direct 0.50→0.25",
		"proxy-stream-1/goroutine/gbps÷haproxy 1.25→0.62",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ratios:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var b bytes.Buffer
	WriteRatioChanges(&b, rs)
	if !strings.Contains(b.String(), "1 of 3 ratios within ±15 %; largest change 50.0 %.") ||
		!strings.Contains(b.String(), "Headline scenarios: 1 of 1 ratios within ±15 %; largest change 0.0 %.") {
		t.Fatalf("ratio summary:\n%s", b.String())
	}
}

// TestDPDKSection: the dpdk paragraph is computed from the run: each dpdk
// target against the best kernel engine of the scenario, the absent ones
// with their reason, and none at all in a run without dpdk.
func TestDPDKSection(t *testing.T) {
	run := cannedRun(1)
	if dpdkSection(run) != nil {
		t.Fatal("dpdk section in a run without dpdk")
	}
	run.Scenarios[1].Headline = true
	run.Scenarios[0].Headline = true
	mk := func(target string, m string, v float64) *result.Cell {
		c := &result.Cell{Target: target, Kind: result.KindEngine, Status: result.StatusOK}
		for range 5 {
			c.Reps = append(c.Reps, result.Rep{Metrics: map[string]float64{m: v}})
		}
		c.Summarize(0.95)
		return c
	}
	stream := run.Scenarios[1]
	stream.Cells = append(stream.Cells, mk("rawepoll", "gbps", 12), mk("dpdk", "gbps", 3))
	ping := run.Scenarios[0]
	ping.Cells = append(ping.Cells, mk("dpdk", "p50_us", 15),
		&result.Cell{Target: "dpdk-memif", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "messenger-only"})
	s := dpdkSection(run)
	if s == nil {
		t.Fatal("no dpdk section")
	}
	md := doc{sections: []section{*s}}.markdown("")
	for _, want := range []string{
		"| proxy-stream-1 | gbps [Gbit/s] | dpdk | 3.00 | rawepoll 12.0 | 0.250× | **worse** |", // best kernel engine is rawepoll, not goroutine
		"| msgr-pingpong-4KiB-pinned | p50_us [µs] | dpdk | 15.0 | goroutine 20.0 | 0.750× | better |",
		"dpdk-memif | absent: messenger-only",
		"**Where dpdk is slower** (MTU 1500): dpdk on proxy-stream-1 (gbps ×0.250).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("dpdk section lacks %q:\n%s", want, md)
		}
	}
}

// The TLS group gets its own section, with ratios to haproxy and the TLS
// config the proxies ran.
func TestTLSSection(t *testing.T) {
	run := cannedRun(1)
	hs := result.MetricDef{Name: "handshakes_per_cpu_s", Unit: "hs/CPU-s", Headline: true}
	sc := &result.Scenario{ID: "tls-handshake-ecdsa", Group: "tls", Title: "TLS handshakes", Headline: true,
		Metrics: []result.MetricDef{hs}, Anchors: []string{"haproxy"},
		Cells: []*result.Cell{
			{Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusOK, Reps: []result.Rep{{Metrics: map[string]float64{"handshakes_per_cpu_s": 5000}}}},
			{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK, Reps: []result.Rep{{Metrics: map[string]float64{"handshakes_per_cpu_s": 4000}}}},
		}}
	for _, c := range sc.Cells {
		c.Summarize(0.95)
	}
	run.Scenarios = append(run.Scenarios, sc)
	run.Extra = map[string]string{"tls_proxy_config": "listen tls-ecdsa\n    bind 127.0.0.1:1 ssl crt RUNDIR/ecdsa-p256.pem\n"}
	md := build(run, nil, nil).markdown("")
	for _, want := range []string{"## TLS termination", "### TLS handshakes (`tls-handshake-ecdsa`)",
		"0.800× (0.800–0.800)", "ssl crt RUNDIR/ecdsa-p256.pem"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
