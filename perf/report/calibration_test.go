package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

func calibrated(run *result.Run, start, end [2]float64) *result.Run {
	at := run.Started
	run.Calibration = &result.MachineState{
		Start:       &result.Calibration{At: at, CPUNsPerIter: start[0], CPUIters: 20000, CPURounds: 5, TCPP50US: start[1], TCPRoundTrips: 9000, CPU: 1, LoadAvg1: 0.5, StealPct: 0.25},
		End:         &result.Calibration{At: at.Add(time.Minute), CPUNsPerIter: end[0], CPUIters: 20000, CPURounds: 5, TCPP50US: end[1], TCPRoundTrips: 9000, CPU: 1, LoadAvg1: 1.5, StealPct: 3.5},
		RunStealPct: 1.75,
	}
	return run
}

// TestCalibrationInReport: both calibrations and the steal are in the Run
// table; a run whose calibration moved by more than 10 % is flagged at the
// top of report.md and index.html, a steady one is not.
func TestCalibrationInReport(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end [2]float64
		flagged    []string
	}{
		{"steady", [2]float64{2000, 20}, [2]float64{2100, 19}, nil},
		{"TCP floor moved", [2]float64{2000, 18.4}, [2]float64{2050, 52.6}, []string{"raw TCP 64 B ping-pong p50 18.4 → 52.6 µs (+185.9 %)"}},
		{"CPU moved", [2]float64{2000, 20}, [2]float64{2500, 20}, []string{"CPU loop 2000 → 2500 ns/iter (+25.0 %)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := calibrated(cannedRun(1), tc.start, tc.end)
			dir := filepath.Join(t.TempDir(), "results")
			runDir := filepath.Join(dir, run.ID)
			if err := Write(run, runDir); err != nil {
				t.Fatal(err)
			}
			if err := Publish(run, dir, runDir); err != nil {
				t.Fatal(err)
			}
			md, _ := os.ReadFile(filepath.Join(runDir, "report.md"))
			page, _ := os.ReadFile(filepath.Join(dir, "latest", "index.html"))
			for _, want := range []string{
				"| calibration: CPU loop start → end | " + num(tc.start[0]) + " → " + num(tc.end[0]) + " ns per SHA-256 of 4 KiB",
				"(median of 5 rounds of 20000 hashes, on CPU 1, wall clock; by the thread's CPU clock",
				"| calibration: raw TCP 64 B ping-pong p50 start → end | " + num(tc.start[1]) + " → " + num(tc.end[1]) + " µs",
				"| CPU steal (hypervisor, /proc/stat) | 0.25 % during the start calibration, 3.50 % during the end one, 1.75 % over the run |",
			} {
				if !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q", want)
				}
			}
			const title = "Warning: the machine changed during this run"
			if tc.flagged == nil {
				if strings.Contains(string(md), title) || strings.Contains(string(page), title) || strings.Contains(string(md), "moved more than 10 %") {
					t.Fatal("a steady run is flagged")
				}
				return
			}
			// At the top: the first section, before the Run table.
			first := strings.Index(string(md), "\n## ")
			if first < 0 || !strings.HasPrefix(string(md[first:]), "\n## "+title) {
				t.Fatalf("report.md does not open with the flag:\n%s", md[:min(len(md), 600)])
			}
			if !strings.Contains(string(md), "**moved more than 10 %**") {
				t.Error("the Run table does not mark the figure that moved")
			}
			h1 := strings.Index(string(page), "</h1>")
			warn := strings.Index(string(page), "<div class=warn><h2>"+title)
			runAt := strings.Index(string(page), "<h2>Run</h2>")
			if warn < 0 || warn < h1 || warn > runAt {
				t.Fatalf("index.html: flag at %d, title end %d, Run table at %d", warn, h1, runAt)
			}
			for _, f := range tc.flagged {
				if !strings.Contains(string(md), f) || !strings.Contains(string(page), f) {
					t.Errorf("flag lacks %q", f)
				}
			}
		})
	}
}

func TestCalibrationUnmeasuredAndOld(t *testing.T) {
	run := calibrated(cannedRun(1), [2]float64{2000, 20}, [2]float64{2000, 0})
	run.Calibration.End.Err = "raw TCP ping-pong: rawtcp-server: exited before READY"
	md := build(run, nil, nil).markdown("")
	for _, want := range []string{"| calibration: raw TCP 64 B ping-pong p50 start → end | 20.0 → – µs (perf loadgen",
		"| calibration not measured | end: raw TCP ping-pong: rawtcp-server: exited before READY |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(md, "Warning: the machine changed") {
		t.Error("a figure measured once is flagged")
	}
	old := cannedRun(1) // a run.json from before the calibration
	if md := build(old, nil, nil).markdown(""); !strings.Contains(md, "| calibration | not recorded") {
		t.Error("an old run's report does not say the calibration is missing")
	}
}

// TestCompareWarnsOnCalibration: `perf compare` warns when the two runs'
// calibrations differ by more than 10 %, not otherwise.
func TestCompareWarnsOnCalibration(t *testing.T) {
	base := calibrated(cannedRun(1), [2]float64{2000, 18.4}, [2]float64{2000, 18.6})
	for _, tc := range []struct {
		name string
		new  *result.Run
		want string
	}{
		{"same machine", calibrated(cannedRun(1), [2]float64{2050, 19}, [2]float64{1990, 18.2}), ""},
		{"slower machine", calibrated(cannedRun(1), [2]float64{2000, 52.6}, [2]float64{2020, 52.4}),
			"Warning: the two runs' calibrations differ by more than 10 % (mean of start and end, 2026-01-02T030405Z → 2026-01-02T030405Z): raw TCP 64 B ping-pong p50 18.5 → 52.5 µs (+183.8 %)."},
		{"no calibration", cannedRun(1), "Note: no calibration in 2026-01-02T030405Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteCalibrationWarning(&b, base, tc.new)
			if tc.want == "" {
				if b.Len() != 0 {
					t.Fatalf("warned: %s", b.String())
				}
				return
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Fatalf("got %q\nwant %q", b.String(), tc.want)
			}
		})
	}
}
