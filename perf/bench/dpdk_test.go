package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

func TestUserspaceNames(t *testing.T) {
	for name, want := range map[string]bool{"dpdk": true, "dpdk-memif": true, "dpdk-spin": true, "goroutine": false, "dpdkx": false} {
		if Userspace(name) != want {
			t.Errorf("Userspace(%q) = %v", name, !want)
		}
	}
	if engineBase(DPDKMemif) != DPDK || engineBase("gnet") != "gnet" {
		t.Errorf("engineBase: %q %q", engineBase(DPDKMemif), engineBase("gnet"))
	}
	dir := t.TempDir()
	if NeedsTopology(dir, nil) || NeedsTopology(dir, []string{"goroutine"}) || !NeedsTopology(dir, []string{"goroutine", "dpdk-memif"}) {
		t.Error("NeedsTopology with an explicit list")
	}
	if err := os.WriteFile(filepath.Join(dir, "dpdk"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !NeedsTopology(dir, nil) {
		t.Error("NeedsTopology: bin/dpdk built, default engine list")
	}
}

// TestMemifTargets: dpdk-memif takes part only where bin/dpdk msgr-client
// drives the server; everywhere else it has an absent cell with a reason,
// never none. dpdk-spin is only in the idle-CPU scenario.
func TestMemifTargets(t *testing.T) {
	r := &runner{cfg: Config{Suite: Suites["default"], ClientEngine: "goroutine", BinDir: "/nonexistent"}, absent: map[string]string{}}
	for _, n := range []string{"goroutine", DPDK, DPDKMemif} {
		r.engines = append(r.engines, result.TargetInfo{Name: n, Kind: result.KindEngine, Available: true})
	}
	want := map[string]string{
		"msgr-pingpong-4KiB-pinned":       "",
		"msgr-pipelined-16x16-4KiB":       "",
		"msgr-connscale":                  "",
		"msgr-openloop-4KiB":              "",
		"msgr-idle-cpu":                   "",
		"msgr-keepalive-pingpong-pinned":  memifNoKernelClient,
		"msgr2-pingpong-4KiB-pinned":      "",
		"msgr2-keepalive-pingpong-pinned": memifNoKernelClient,
		"msgr-throttle":                   memifOnePeer,
		"proxy-stream-1":                  memifNoProxy,
		"proxy-idle":                      memifNoProxy,
		"msgr-rados-4KiB-t16":             radosNoDPDK,
	}
	seen := 0
	for _, d := range r.definitions() {
		if d.res.Group == result.GroupCores {
			continue // one dpdk-memif point per worker count (TestCoresTargets)
		}
		var memif *target
		spin := false
		for i := range d.targets {
			switch d.targets[i].name {
			case DPDKMemif:
				memif = &d.targets[i]
			case DPDKSpin:
				spin = true
			}
		}
		if memif == nil {
			t.Errorf("%s: no dpdk-memif target", d.res.ID)
			continue
		}
		if spin != (d.res.ID == "msgr-idle-cpu") {
			t.Errorf("%s: dpdk-spin target %v", d.res.ID, spin)
		}
		if w, ok := want[d.res.ID]; ok {
			seen++
			if memif.absent != w {
				t.Errorf("%s: dpdk-memif absent %q, want %q", d.res.ID, memif.absent, w)
			}
			if w == "" && d.res.ID != "msgr-idle-cpu" && !strings.Contains(memif.driver, "memif") {
				t.Errorf("%s: dpdk-memif driver %q does not say it is its own client", d.res.ID, memif.driver)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d scenarios", seen, len(want))
	}
}

// TestDPDKWithoutTopology: without root there is no namespace; the dpdk
// targets are absent with the reason while the kernel engines run, and
// the idle-CPU scenario measures a server with no traffic.
func TestDPDKWithoutTopology(t *testing.T) {
	dir, self, bin := harnessDir(t, map[string]string{"fake": fakeEngine, "dpdk": fakeEngine})
	suite := Suite{Name: "test", Reps: 3, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, IdleWindow: 100 * time.Millisecond, ScaleConns: 10,
		Scenarios: []string{"msgr-idle-cpu", "msgr-pingpong-4KiB-unpinned"}}
	why := "the dpdk topology needs root"
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake", DPDK, DPDKMemif}, ClientEngine: "fake", Self: self, PinCPU: -1, WorkDir: dir, NoDPDK: why}
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	var idle *result.Scenario
	for _, sc := range run.Scenarios {
		if sc.ID == "msgr-idle-cpu" {
			idle = sc
		}
	}
	if idle == nil || len(run.Scenarios) != 2 {
		t.Fatalf("%d scenarios, idle %v", len(run.Scenarios), idle)
	}
	c := idle.Cell("fake")
	if c == nil || c.Status != result.StatusOK || len(c.Reps) != 3 {
		t.Fatalf("fake idle cell: %+v", c)
	}
	if _, ok := c.Summary["server_cores"]; !ok {
		t.Fatalf("idle CPU not measured: %+v", c.Summary)
	}
	for _, sc := range run.Scenarios {
		for _, n := range []string{DPDK, DPDKMemif} {
			if c := sc.Cell(n); c == nil || c.Status != result.StatusAbsent || c.Reason != why {
				t.Errorf("%s / %s: %+v", sc.ID, n, c)
			}
		}
	}
	if c := idle.Cell(DPDKSpin); c == nil || c.Status != result.StatusAbsent {
		t.Errorf("dpdk-spin: %+v", c)
	}
	if run.Extra["listen_host"] != "127.0.0.1" || !strings.Contains(run.Extra["dpdk_topology"], why) {
		t.Errorf("extra: %v", run.Extra)
	}
}
