package bench

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/result"
)

// TestSuiteConns: the default suite runs the 10k point, --scale all four,
// full (every scenario) the 10k one only, quick and smoke none.
func TestSuiteConns(t *testing.T) {
	for name, want := range map[string][]int{
		"default": {10000},
		"full":    {10000},
		"scale":   {1000, 10000, 50000, 100000},
		"quick":   nil,
		"smoke":   nil,
	} {
		if got := SuiteConns(Suites[name]); !slices.Equal(got, want) {
			t.Errorf("SuiteConns(%s) = %v, want %v", name, got, want)
		}
		// The runner selects the same points.
		r := &runner{cfg: Config{Suite: Suites[name], ClientEngine: "goroutine", BinDir: "/nonexistent"}, absent: map[string]string{}, run: &result.Run{}}
		var got []string
		for _, d := range r.selectIDs(r.cfg.Suite.Scenarios) {
			if d.res.Group == result.GroupConns {
				got = append(got, d.res.ID)
			}
		}
		if wantIDs := ConnsScenarios(want...); !slices.Equal(got, wantIDs) && !(len(got) == 0 && len(wantIDs) == 0) {
			t.Errorf("suite %s selects %v, want %v", name, got, wantIDs)
		}
	}
	if ConnsID(10000) != "proxy-conns-10k" || ConnsID(1500) != "proxy-conns-1500" {
		t.Errorf("ConnsID: %s, %s", ConnsID(10000), ConnsID(1500))
	}
}

// TestConnsTargets: every proxy, HAProxy and direct; each runs whole
// (exclusive, first), split; dpdk-memif is absent with its reason.
func TestConnsTargets(t *testing.T) {
	r := &runner{cfg: Config{Suite: Suites["default"], ClientEngine: "goroutine", BinDir: "/nonexistent"}, absent: map[string]string{}, run: &result.Run{},
		engines: []result.TargetInfo{{Name: "goroutine", Available: true}, {Name: "dpdk", Available: true}, {Name: DPDKMemif, Available: true}}}
	defs := r.selectIDs([]string{"proxy-conns-10k"})
	if len(defs) != 1 {
		t.Fatalf("%d definitions, want 1", len(defs))
	}
	d := defs[0]
	if !d.exclusive || !d.res.Split || d.res.Group != result.GroupConns || (d.res.Params["conns"] != "10000" && d.res.Params["conns_asked"] != "10000") {
		t.Errorf("exclusive %v split %v group %q params %v", d.exclusive, d.res.Split, d.res.Group, d.res.Params)
	}
	var names []string
	for _, tg := range d.targets {
		names = append(names, tg.name)
		if !tg.first {
			t.Errorf("%s: not run whole", tg.name)
		}
		if tg.name == DPDKMemif && tg.absent != memifNoProxy {
			t.Errorf("dpdk-memif absent %q", tg.absent)
		}
	}
	if want := []string{Direct, HAProxy, "goroutine", "dpdk", DPDKMemif}; !slices.Equal(names, want) {
		t.Errorf("targets %v, want %v", names, want)
	}
}

// TestPlanConns: one address pair up to perTuple connections; above, as
// many 127.0.0.x sources on loopback or frontends behind a tap, and as
// many backends either way; 2N+1,024 descriptors.
func TestPlanConns(t *testing.T) {
	if got := PortsPerTuple(32768, 60999); got != 19762 {
		t.Errorf("PortsPerTuple(32768, 60999) = %d, want 19762 (70 %% of 28,232)", got)
	}
	if got := PortsPerTuple(60000, 60010); got != 1000 {
		t.Errorf("PortsPerTuple of a tiny range = %d, want the floor 1000", got)
	}
	for _, c := range []struct {
		n        int
		loopback bool
		back     int
		front    int
		sources  []string
	}{
		{1000, true, 1, 1, nil},
		{10000, true, 1, 1, nil},
		{10000, false, 1, 1, nil},
		{20000, true, 1, 1, nil},
		{20001, true, 2, 1, []string{"127.0.0.1", "127.0.0.2"}},
		{50000, true, 3, 1, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{100000, true, 5, 1, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}},
		{100000, false, 5, 5, nil},
	} {
		p := PlanConns(c.n, 20000, c.loopback)
		if p.N != c.n || p.Backends != c.back || p.Fronts != c.front || !slices.Equal(p.Sources, c.sources) || p.NoFile != uint64(2*c.n+1024) {
			t.Errorf("PlanConns(%d, 20000, %v) = %+v, want backends %d fronts %d sources %v nofile %d", c.n, c.loopback, p, c.back, c.front, c.sources, 2*c.n+1024)
		}
	}
}

// TestNoFileRaise: the rlimit arithmetic.
func TestNoFileRaise(t *testing.T) {
	for _, c := range []struct {
		name                   string
		cur, max, need, nrOpen uint64
		priv                   bool
		wantCur, wantMax       uint64
		wantErr                string
	}{
		{"enough already", 20000, 20000, 3024, 1 << 20, false, 20000, 20000, ""},
		{"soft only", 1024, 524288, 21024, 1 << 20, false, 21024, 524288, ""},
		{"hard too, root", 20000, 20000, 201024, 1 << 20, true, 201024, 201024, ""},
		{"hard too, no CAP_SYS_RESOURCE", 20000, 20000, 201024, 1 << 20, false, 0, 0, "needs CAP_SYS_RESOURCE"},
		{"above nr_open", 20000, 20000, 2_001_024, 1 << 20, true, 0, 0, "fs.nr_open"},
	} {
		cur, maxv, err := NoFileRaise(c.cur, c.max, c.need, c.nrOpen, c.priv)
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v, want one saying %q", c.name, err, c.wantErr)
			}
		case err != nil || cur != c.wantCur || maxv != c.wantMax:
			t.Errorf("%s: %d/%d, %v; want %d/%d", c.name, cur, maxv, err, c.wantCur, c.wantMax)
		}
	}
}

// TestFitConns: a point runs at its N when the limit allows, sized down
// to a multiple of 100 when that keeps 90 % of it, else not at all.
func TestFitConns(t *testing.T) {
	for _, c := range []struct {
		n          int
		maxv       uint64
		privileged bool
		want       int
	}{
		{10000, 20000, false, 9400},  // this VM: (20,000 − 1,024) / 2 = 9,488
		{10000, 20000, true, 10000},  // raisable up to nr_open
		{10000, 30000, false, 10000}, // fits
		{1000, 20000, false, 1000},   // fits
		{50000, 20000, false, 0},     // 9,400 is under 90 % of 50,000: absent
		{100000, 20000, false, 0},    //
		{2000000, 20000, true, 0},    // above nr_open
		{10000, 1000, false, 0},      // nothing fits
		{10000, 19024, false, 9000},  // exactly 90 %
	} {
		if got := FitConns(c.n, c.maxv, 1<<20, c.privileged); got != c.want {
			t.Errorf("FitConns(%d, hard %d, privileged %v) = %d, want %d", c.n, c.maxv, c.privileged, got, c.want)
		}
	}
}

// TestConnsProxyConfig: a bind per frontend, a server per backend in
// round robin, maxconn above N, timeouts that hold a silent connection.
func TestConnsProxyConfig(t *testing.T) {
	text := connsProxyConfig([]string{"127.0.0.1:1", "127.0.0.1:2"}, []string{"127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5"}, 50000)
	for _, want := range []string{"maxconn 50200", "bind 127.0.0.1:1\n    bind 127.0.0.1:2\n", "balance roundrobin",
		"server s1 127.0.0.1:3\n    server s2 127.0.0.1:4\n    server s3 127.0.0.1:5\n", "timeout client  10m"} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
}

// TestConnsPointRuns runs a small point through the runner: direct and
// HAProxy (when installed), 300 connections at 100 per address pair, so
// the client binds three 127.0.0.x sources and HAProxy has three backends.
func TestConnsPointRuns(t *testing.T) {
	dir, self, bin := harnessDir(t, nil)
	r := &runner{cfg: Config{Suite: Suite{Name: "test", Reps: 2, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond},
		BinDir: bin, ClientEngine: "goroutine", Self: self, PinCPU: -1, WorkDir: dir, Progress: nopProgress{}},
		run: &result.Run{Extra: map[string]string{}}, absent: map[string]string{}}
	if _, err := exec.LookPath("haproxy"); err != nil {
		r.absent[HAProxy] = "haproxy not installed"
	}
	r.runScenario(context.Background(), r.connsPoint(300, 100))
	sc := r.run.Scenarios[0]
	for _, c := range sc.Cells {
		if c.Target == HAProxy && r.absent[HAProxy] != "" {
			continue
		}
		if c.Status != result.StatusOK {
			t.Fatalf("%s: %s: %s", c.Target, c.Status, c.Reason)
		}
		t.Logf("%s: RSS %.2f KiB/conn, CPU %.2f µs/(conn·s), p99 %.0f µs, rate %.0f/s, setup %.0f conn/s, server %s", c.Target, c.Summary["server_rss_kb_per_conn"].Median,
			c.Summary["server_cpu_us_per_conn_s"].Median, c.Summary["p99_us"].Median, c.Summary["rate"].Median, c.Summary["setup_conns_per_s"].Median, c.Server)
		if len(c.Reps) != 2 || c.Hist == "" {
			t.Errorf("%s: %d repetitions, histogram %v", c.Target, len(c.Reps), c.Hist != "")
		}
		// 50 ms at 2,000/s: 100 requests a repetition.
		for _, m := range []string{"rate", "p99_us", "server_rss_kb_per_conn", "server_cpu_us_per_conn_s", "server_cpu_us_per_msg"} {
			if s := c.Summary[m]; s.N != 2 {
				t.Errorf("%s: %s in %d repetitions, want 2", c.Target, m, s.N)
			}
		}
		for _, m := range []string{"setup_conns_per_s", "setup_cpu_us_per_conn"} {
			if s := c.Summary[m]; s.N != 1 || s.Median <= 0 {
				t.Errorf("%s: %s %+v, want one positive sample", c.Target, m, s)
			}
		}
	}
	if r.run.Extra["conns_limits"] == "" {
		t.Error("no limits recorded")
	}
	supervise.NoLeaks(t)
}
