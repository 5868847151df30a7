// Package result is the raw JSON of one harness run (results/<id>/run.json):
// every repetition of every cell, the merged latency histograms, the
// machine, the tuning of every engine and anchor. Reports and comparisons
// are generated from it alone.
package result

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/stats"
)

// Schema is bumped when the JSON changes incompatibly.
const Schema = 1

// Cell statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed" // the target ran and failed: the reason says how
	StatusAbsent = "absent" // the target is not there (not built, not installed, unsupported)
)

// Target kinds.
const (
	KindEngine = "engine"
	KindAnchor = "anchor"
)

// Run is one harness run.
type Run struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"` // UTC date-time, also the folder name
	Suite  string `json:"suite"`
	// Command is how the run was started (perf run ...).
	Command  string    `json:"command,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	// Calibration is the machine's state at the start and the end of
	// the run (nil in runs from before it was recorded).
	Calibration *MachineState `json:"calibration,omitempty"`
	// ClientEngine is the one msgr-client every messenger server is driven by.
	ClientEngine string       `json:"client_engine"`
	Method       Method       `json:"method"`
	Targets      []TargetInfo `json:"targets"`
	Scenarios    []*Scenario  `json:"scenarios"`
	Notes        []string     `json:"notes,omitempty"`
	// HarnessErrors are bugs of the harness itself (a recovered panic):
	// `perf run` exits non-zero when there is any.
	HarnessErrors []string          `json:"harness_errors,omitempty"`
	ProxyConfig   string            `json:"proxy_config,omitempty"`
	Extra         map[string]string `json:"extra,omitempty"`
	// Baseline, when set, is the other commit whose engines ran beside
	// this one's as ENGINE@LABEL targets (perf run --baseline).
	Baseline *Baseline `json:"baseline,omitempty"`
}

// Baseline is a commit whose engines were built and measured in the same
// run as the current ones, so that a change is judged against it on one
// machine within one run.
type Baseline struct {
	// Rev is the revision as the user gave it (HEAD~1, origin/main).
	Rev string `json:"rev"`
	// Label is Rev made safe for target and file names: its targets are
	// named ENGINE@Label.
	Label string `json:"label"`
	// Commit is the full hash Rev resolved to when the run started.
	Commit string `json:"commit"`
}

// BaselineTarget names engine's target built at the baseline labelled
// label.
func BaselineTarget(engine, label string) string { return engine + "@" + label }

// SplitBaseline splits a baseline target's name into its engine and its
// baseline's label; label is "" for any other target. A core sweep point
// of a baseline engine, "rawepoll@HEAD~1/w2" (CoreTarget of
// "rawepoll@HEAD~1"), splits into "rawepoll/w2" and "HEAD~1": labels
// hold no "/" (bench.BaselineLabel).
func SplitBaseline(target string) (engine, label string) {
	engine, rest, ok := strings.Cut(target, "@")
	if !ok {
		return target, ""
	}
	label, point, ok := strings.Cut(rest, "/")
	if ok {
		engine += "/" + point
	}
	return engine, label
}

// Machine is where the run happened.
type Machine struct {
	Hostname  string  `json:"hostname"`
	CPUModel  string  `json:"cpu_model"`
	CPUs      int     `json:"cpus"`
	MemTotal  int64   `json:"mem_total_bytes"`
	Kernel    string  `json:"kernel"`
	OS        string  `json:"os"`
	GoVersion string  `json:"go_version"`
	Commit    string  `json:"commit"`
	Dirty     bool    `json:"dirty"`
	LoadStart float64 `json:"loadavg1_start"`
	LoadEnd   float64 `json:"loadavg1_end"`
}

// Method records how the numbers were taken.
type Method struct {
	Reps       int     `json:"reps"`
	WarmupS    float64 `json:"warmup_s"`
	DurationS  float64 `json:"duration_s"`
	Confidence float64 `json:"confidence"`
	PinCPU     int     `json:"pin_cpu"`
	// Taskset: pinned scenarios ran pinned (the name is older than the
	// mechanism: children are pinned from their fork, as by taskset -c).
	Taskset bool `json:"taskset"`
	// ClientCPU is where a split scenario's client runs (its server side
	// is on PinCPU); -1 when the machine offers no second CPU.
	ClientCPU int `json:"client_cpu"`
}

// TargetInfo describes an engine or anchor and its tuning.
type TargetInfo struct {
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Version   string            `json:"version,omitempty"`
	Available bool              `json:"available"`
	Reason    string            `json:"reason,omitempty"`
	Tuning    map[string]string `json:"tuning,omitempty"`
}

// MetricDef is one measured quantity of a scenario.
type MetricDef struct {
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	Lower bool   `json:"lower_is_better"`
	// Headline metrics get ratio columns in the report.
	Headline bool `json:"headline,omitempty"`
}

// Scenario is one measured point (a parameter combination).
type Scenario struct {
	ID     string `json:"id"`
	Group  string `json:"group"` // messenger | proxy | tls | floor
	Title  string `json:"title"`
	Pinned bool   `json:"pinned"`
	// Split scenarios run the client on Method.ClientCPU and everything
	// on the server side (server, backend, proxy) on Method.PinCPU: one
	// fixed placement instead of the scheduler's, which on two CPUs moved
	// rates and CPU per unit by 12-20 % from one repetition to the next
	// (split: 1-5 %).
	Split bool `json:"split,omitempty"`
	// Headline scenarios are the ones whose engine/anchor ratios must
	// agree within ±15 % between two default runs.
	Headline bool              `json:"headline,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Metrics  []MetricDef       `json:"metrics"`
	// Anchors names the cells the report divides by (ratio columns).
	Anchors []string `json:"anchors,omitempty"`
	// LoadOnly names the anchors that run the load without the role
	// being measured (direct: the client straight to the backend, no
	// proxy). Only the load's own figures are divided by them (rates,
	// latencies), not the server-side ones (Divides says why).
	LoadOnly []string `json:"load_only_anchors,omitempty"`
	Cells    []*Cell  `json:"cells"`
	Note     string   `json:"note,omitempty"`
	// Unit is what the measured process's CPU is divided by ("msg",
	// "conn", "GB"; empty: per second only), and the heap figures of
	// "where the time goes" too.
	Unit string `json:"unit,omitempty"`
	// Net is the core/netsim link profile the scenario ran over in the
	// two-hosts topology (`perf run --topology two-hosts`): the load on
	// the client namespace, servers, proxies, backends and anchors on the
	// server one. Its ID then ends in "@" + Net, so IDs stay unique and
	// `perf compare` pairs the same profile. Empty: one host.
	Net string `json:"net,omitempty"`
}

// Cell is one target in one scenario.
type Cell struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// How the load was generated for this cell (e.g. "bin/goroutine msgr-client").
	Driver string `json:"driver,omitempty"`
	// Server is the measured server's (or proxy's) command line: its tuning.
	Server  string                   `json:"server,omitempty"`
	Reps    []Rep                    `json:"reps,omitempty"`
	Summary map[string]stats.Summary `json:"summary,omitempty"`
	// Hist is the latency histogram (ns) merged over the repetitions.
	Hist string `json:"hist,omitempty"`
	// Seconds is the wall time the cell took (start, warm-up, repetitions).
	Seconds float64       `json:"seconds,omitempty"`
	Series  []SeriesPoint `json:"series,omitempty"`
	// Profile is the CPU profile of one measured repetition of a Go
	// target (headline scenarios: the report's "where the time goes").
	Profile *Profile `json:"profile,omitempty"`
	// Ramp is a latency-vs-load scenario's steps (ramp.go).
	Ramp *Ramp `json:"ramp,omitempty"`
}

// Where-the-time-goes metrics of a repetition (headline scenarios). Every
// target: the measured process's user and system CPU seconds from
// /proc/<pid>/stat (10 ms ticks). Go targets: its heap allocations per
// Scenario.Unit and GC cycles, from the runtime's own counters
// (runtime/metrics, through core/cli's NETMODELS_WINDOW).
const (
	MetricUserS         = "server_user_s"
	MetricSysS          = "server_sys_s"
	MetricHeapBytesUnit = "heap_bytes_per_unit"
	MetricAllocsUnit    = "heap_allocs_per_unit"
	MetricGCCycles      = "gc_cycles"
	// Voluntary context switches of the measured process's threads per
	// unit (procstat.Times.VolSwitches; every target), and goroutines
	// started per unit (Go targets, from the window's counters): the
	// wake-ups and hand-offs an I/O model costs.
	MetricVolSwitchesUnit = "vol_switches_per_unit"
	MetricGoroutinesUnit  = "goroutines_per_unit"
)

// Profile is what one repetition's CPU profile of a cell's measured
// process holds, classified (perf/cpuprof's where-the-time-goes classes).
type Profile struct {
	// Rep is the repetition profiled (0-based).
	Rep int `json:"rep"`
	// HZ is the sampling rate (samples per CPU-second).
	HZ      int   `json:"hz"`
	Samples int64 `json:"samples"`
	// CPUNS is the profile's CPU time, ClassNS its part in each class.
	CPUNS   int64            `json:"cpu_ns"`
	ClassNS map[string]int64 `json:"class_ns"`
	// File is the pprof file beside run.json (the flame graph is drawn
	// from it; `go tool pprof` reads it), empty when it was not kept.
	File string `json:"file,omitempty"`
}

// Rep is one repetition's metrics.
type Rep struct {
	Metrics map[string]float64 `json:"metrics"`
}

// SeriesPoint is one sample of a time series (throttling: held bytes).
type SeriesPoint struct {
	T     float64 `json:"t_s"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
}

// Values returns the repetitions' values of metric m (NaN-free).
func (c *Cell) Values(m string) []float64 {
	var out []float64
	for _, r := range c.Reps {
		if v, ok := r.Metrics[m]; ok && v == v {
			out = append(out, v)
		}
	}
	return out
}

// Summarize fills Summary from the repetitions.
func (c *Cell) Summarize(level float64) {
	c.Summary = map[string]stats.Summary{}
	names := map[string]bool{}
	for _, r := range c.Reps {
		for k := range r.Metrics {
			names[k] = true
		}
	}
	for k := range names {
		if v := c.Values(k); len(v) > 0 {
			c.Summary[k] = stats.Summarize(v, level)
		}
	}
}

// Divides says whether the report divides the targets' metric m by
// anchor a. A load-only anchor's server-side figures (CPU, RSS) are the
// backend's, a different program from the proxy in every other row, so
// their ratio compares unlike things. In proxy-stream-1-pinned, where
// the client and the sink share one CPU, the sink's CPU per GB moved
// 0.155 → 0.228 between two runs while the pair's total stayed at 1.07-1.09
// cores: the split is the kernel's accounting, and every proxy's
// "÷ direct" ratio moved 26-31 % with it.
func (s *Scenario) Divides(a string, m MetricDef) bool {
	return !m.ServerSide() || !slices.Contains(s.LoadOnly, a)
}

// ServerSide metrics are the measured process's own figures ("server_"
// names: CPU, RSS, heap), not the load's.
func (m MetricDef) ServerSide() bool { return strings.HasPrefix(m.Name, "server_") }

// Cell returns the cell of target, or nil.
func (s *Scenario) Cell(target string) *Cell {
	for _, c := range s.Cells {
		if c.Target == target {
			return c
		}
	}
	return nil
}

// Save writes the run as indented JSON.
// Scenario returns the run's scenario with that ID, or nil.
func (r *Run) Scenario(id string) *Scenario {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// TargetsWhere lists, in order of first appearance, the targets with a cell
// for which keep is true.
func (r *Run) TargetsWhere(keep func(*Cell) bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, sc := range r.Scenarios {
		for _, c := range sc.Cells {
			if !seen[c.Target] && keep(c) {
				seen[c.Target] = true
				out = append(out, c.Target)
			}
		}
	}
	return out
}

// Save writes r to path as compact JSON: run.json is for tools (perf
// compare, perf report, jq), report.md is the readable form, and indenting
// made every committed run.json a third larger (2.47 against 1.75 MB).
func (r *Run) Save(path string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode run %s: %w", r.ID, err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads a run.json.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %d, this harness reads %d", path, r.Schema, Schema)
	}
	return &r, nil
}
