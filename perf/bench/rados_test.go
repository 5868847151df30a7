package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/result"
)

// The sample: ops/s, the latencies in µs, the writes as the units CPU per
// op divides by, and rados' own CPU over its life.
func TestRadosSample(t *testing.T) {
	sum, err := parseRadosBench(briefTail)
	if err != nil {
		t.Fatal(err)
	}
	s := radosSample(sum, supervise.Result{CPU: 3 * time.Second, Elapsed: 6 * time.Second})
	m := s.metrics
	near := func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
	if !near(m["rate"], 16899/5.00807) || !near(m["lat_avg_us"], 4740.17) || !near(m["lat_stddev_us"], 28174.7) ||
		!near(m["lat_max_us"], 672608) || !near(m["lat_min_us"], 244.742) || m["client_cores"] != 0.5 {
		t.Errorf("metrics %v", m)
	}
	if s.units != 16899 || s.bytes != 16899*4096 || s.seconds != 5.00807 || s.hist != "" {
		t.Errorf("units %v bytes %v seconds %v hist %q", s.units, s.bytes, s.seconds, s.hist)
	}
}

func TestRadosSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, 50 * time.Millisecond: 1, 700 * time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 5 * time.Second: 5} {
		if got := radosSeconds(d); got != want {
			t.Errorf("radosSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// msgr-rados: the real ceph-osd is the anchor and runs first; every
// kernel engine has a fake-OSD cell; bin/dpdk (any variant) is absent
// with the reason, never left out.
func TestRadosTargets(t *testing.T) {
	r := &runner{cfg: Config{Suite: Suites["default"], ClientEngine: "goroutine", BinDir: "/nonexistent", WorkDir: t.TempDir()}, absent: map[string]string{}}
	for _, n := range []string{"goroutine", "rawepoll", DPDK, DPDKMemif} {
		r.engines = append(r.engines, result.TargetInfo{Name: n, Kind: result.KindEngine, Available: true})
	}
	d := r.radosScenario()
	if d.res.ID != "msgr-rados-4KiB-t16" || !d.exclusive || d.teardown == nil || d.res.Pinned || d.res.Split {
		t.Fatalf("scenario %s: exclusive %v teardown %v pinned %v split %v", d.res.ID, d.exclusive, d.teardown != nil, d.res.Pinned, d.res.Split)
	}
	var names []string
	for i, tg := range d.targets {
		names = append(names, tg.name)
		if tg.first != (i == 0) || (tg.kind == result.KindAnchor) != (i == 0) {
			t.Errorf("%s: first %v kind %s", tg.name, tg.first, tg.kind)
		}
		if want := map[bool]string{true: radosNoDPDK}[Userspace(tg.name)]; tg.absent != want {
			t.Errorf("%s: absent %q, want %q", tg.name, tg.absent, want)
		}
	}
	if got := strings.Join(names, ","); got != "ceph-osd,goroutine,rawepoll,dpdk,dpdk-memif" {
		t.Errorf("targets %s", got)
	}
	if !strings.Contains(d.res.Note, "NOT the same work") {
		t.Errorf("the note does not say the anchor does other work: %s", d.res.Note)
	}
	if errs := d.teardown(); errs != nil {
		t.Errorf("teardown of a cluster never started: %v", errs)
	}
}

// A cluster that cannot start (here: no work folder; on a machine without
// ceph-osd or rados, the same path) fails every cell of msgr-rados with the
// reason: failed, not absent, so the scenario is never silently skipped.
func TestRadosFailsLoudly(t *testing.T) {
	r := &runner{cfg: Config{Suite: Suite{Reps: 2, Duration: time.Second}, Progress: nopProgress{}, PinCPU: -1, BinDir: "/nonexistent", WorkDir: "/nonexistent/work"},
		run: &result.Run{Method: result.Method{Confidence: 0.95}}, absent: map[string]string{}}
	for _, n := range []string{"goroutine", DPDK} {
		r.engines = append(r.engines, result.TargetInfo{Name: n, Kind: result.KindEngine, Available: true})
	}
	r.runScenario(context.Background(), r.radosScenario())
	for _, c := range r.run.Scenarios[0].Cells {
		want := result.StatusFailed
		if c.Target == DPDK {
			want = result.StatusAbsent
		}
		if c.Status != want || (want == result.StatusFailed && !strings.Contains(c.Reason, "ceph cluster for msgr-rados")) {
			t.Errorf("%s: %s %q, want %s", c.Target, c.Status, c.Reason, want)
		}
	}
}
