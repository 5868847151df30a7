// Package bench runs the scenarios: it starts servers, anchors and load
// generators as processes (the harness imports no engine), repeats each
// measurement, reads CPU and memory of the measured process from /proc,
// and fills a result.Run.
package bench

import (
	"fmt"
	"time"
)

// Suite sizes a run.
type Suite struct {
	Name     string
	Reps     int
	Warmup   time.Duration
	Duration time.Duration
	// ScaleConns is N for the connection-scale and idle-session scenarios.
	ScaleConns int
	// Scenarios lists scenario IDs to run; nil runs all.
	Scenarios []string
}

// Suites: default (under 15 minutes on 2 cores with every engine built),
// quick (under 3 minutes) and smoke (seconds: proves the harness works).
var Suites = map[string]Suite{
	"default": {Name: "default", Reps: 5, Warmup: 200 * time.Millisecond, Duration: 700 * time.Millisecond, ScaleConns: 1000},
	"quick": {Name: "quick", Reps: 5, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond, ScaleConns: 200,
		Scenarios: []string{
			"msgr-pingpong-0B-pinned", "msgr-pingpong-4KiB-pinned", "msgr-pingpong-4KiB-unpinned",
			"msgr-keepalive-pingpong-pinned", "msgr-keepalive-pipelined",
			"msgr-pipelined-16x16-4KiB", "msgr-throttle", "msgr-connscale",
			"proxy-pingpong-64B-pinned", "proxy-pingpong-64B-unpinned",
			"proxy-stream-1", "proxy-stream-8", "proxy-connrate", "proxy-idle",
		}},
	"smoke": {Name: "smoke", Reps: 5, Warmup: 20 * time.Millisecond, Duration: 50 * time.Millisecond, ScaleConns: 20,
		Scenarios: []string{
			"msgr-pingpong-4KiB-pinned", "msgr-keepalive-pingpong-pinned", "proxy-pingpong-64B-pinned", "proxy-stream-1",
		}},
}

// Config is one harness invocation.
type Config struct {
	Suite Suite
	// BinDir holds bin/<engine>.
	BinDir string
	// Engines to measure; nil = every executable in BinDir.
	Engines []string
	// ClientEngine's msgr-client drives every messenger server.
	ClientEngine string
	// Self is the perf binary (for `perf rawtcp-server` and `perf loadgen`).
	Self string
	// PinCPU is the CPU pinned scenarios use; -1 disables pinning.
	PinCPU int
	// WorkDir holds config files and ceph-mon's cluster during the run.
	WorkDir string
	// Only restricts to scenario IDs containing one of these substrings.
	Only []string
	// Progress receives one call per finished repetition.
	Progress Progress
}

// Progress is told about the run's advance (the mpb bars in cmd/perf).
type Progress interface {
	Total(n int)
	Step(scenario, target string)
	Logf(format string, args ...any)
}

type nopProgress struct{}

func (nopProgress) Total(int)           {}
func (nopProgress) Step(string, string) {}
func (nopProgress) Logf(string, ...any) {}

func (c *Config) validate() error {
	if c.Suite.Reps < 1 || c.Suite.Duration <= 0 {
		return fmt.Errorf("suite %q: reps %d duration %v", c.Suite.Name, c.Suite.Reps, c.Suite.Duration)
	}
	if c.Self == "" || c.BinDir == "" || c.WorkDir == "" {
		return fmt.Errorf("bench config: Self, BinDir and WorkDir are required")
	}
	if c.Progress == nil {
		c.Progress = nopProgress{}
	}
	return nil
}
