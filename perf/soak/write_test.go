package soak

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWrite renders a made-up run: the CSV holds every sample, the
// summary names the growth it found, the chart is an SVG.
func TestWrite(t *testing.T) {
	flat := &Watched{Role: "msgr-server", PID: 10, Source: SourceMetrics}
	leak := &Watched{Role: "msgr-client", PID: 11, Source: SourceThreads}
	for i := range 40 {
		flat.samples = append(flat.samples, Sample{T: float64(i), RSS: 30 << 20, FDs: 12, Goroutines: 20, Threads: 6})
		leak.samples = append(leak.samples, Sample{T: float64(i), RSS: 30 << 20, FDs: 10 + i, Goroutines: 5, Threads: 5})
	}
	er := EngineResult{Engine: "fake", watched: []*Watched{flat, leak}, restarts: []float64{10, 20, 30},
		Msgr:  MsgrResult{Target: 100, Sent: 120, Received: 120, Exact: true, Reached: true, Reconnects: 7},
		Proxy: ProxyResult{RoundTrips: 900, Restarts: []Restart{{KilledAt: 10, ReadyAt: 11, RecoverMs: 30}}}}
	er.summarize()
	res := Result{Started: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), Duration: "40s", Share: "40s", Target: 100,
		Engines: []EngineResult{er}}
	if f := res.Failed(); len(f) != 1 || !strings.Contains(f[0], "msgr-client fds grows steadily") {
		t.Fatalf("failures %q, want the client's descriptor growth only", f)
	}
	dir := t.TempDir()
	if err := Write(res, dir, "perf soak --duration 40s"); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "fake.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(csv), "\n"); n != 81 {
		t.Fatalf("%d CSV lines, want a header and 80 samples", n)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Soak: FAIL", "| fake | 120 / 120 | yes | yes |", "**fds**", "12 → 12", "10 → 49", "5 → 5 (threads)"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "fake.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("chart: %v %.100q", err, svg)
	}
	var back Result
	b, _ := os.ReadFile(filepath.Join(dir, "soak.json"))
	if err := json.Unmarshal(b, &back); err != nil || len(back.Engines) != 1 || back.Engines[0].Procs[1].FDsEnd != 49 {
		t.Fatalf("soak.json: %v %+v", err, back)
	}
}

func TestNearRestart(t *testing.T) {
	rs := []Restart{{KilledAt: 10, ReadyAt: 11.2}}
	for _, c := range []struct {
		t    float64
		want bool
	}{{9, false}, {10, true}, {11, true}, {16, true}, {16.3, false}} {
		if got := nearRestart(c.t, rs); got != c.want {
			t.Errorf("cut at %v s: near a restart %v, want %v", c.t, got, c.want)
		}
	}
}
