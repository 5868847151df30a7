package bench

import (
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

func TestCorePlan(t *testing.T) {
	for _, c := range []struct {
		nproc int
		full  bool
		want  []int
	}{
		{1, true, []int{1}},
		{1, false, []int{1}},
		{2, true, []int{1, 2}},
		{2, false, []int{1, 2}},
		{8, true, []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{8, false, []int{1, 2}},
		{0, true, []int{1}}, // a machine reports at least one CPU
	} {
		if got := CorePlan(c.nproc, c.full); !slices.Equal(got, c.want) {
			t.Errorf("CorePlan(%d, full %v) = %v, want %v", c.nproc, c.full, got, c.want)
		}
	}
}

func TestCoreConnLoops(t *testing.T) {
	for nproc, want := range map[int]int{1: 8, 2: 8, 8: 32} {
		if got := coreConnLoops(nproc); got != want {
			t.Errorf("coreConnLoops(%d) = %d, want %d", nproc, got, want)
		}
	}
}

func TestWithNbthread(t *testing.T) {
	text := withNbthread(proxyConfig([]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, []string{"127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"}, 100), 3)
	if !strings.Contains(text, "global\n    nbthread 3\n    maxconn 100\n") {
		t.Errorf("nbthread not in the global section:\n%s", text)
	}
}

// TestCoresTargets: every engine gets one point per worker count, HAProxy
// one per thread count, direct one; absent engines and dpdk-memif in the
// proxy sweep are absent with their reason.
func TestCoresTargets(t *testing.T) {
	r := &runner{cfg: Config{Suite: Suites["default"], ClientEngine: "goroutine", BinDir: "/nonexistent"},
		absent: map[string]string{"gnet": "not built", HAProxy: "haproxy not installed"}}
	for _, n := range []string{"goroutine", "gnet", DPDKMemif} {
		r.engines = append(r.engines, result.TargetInfo{Name: n, Kind: result.KindEngine, Available: n != "gnet"})
	}
	plan := CorePlan(NProc(), false)
	var wantConn, wantMsgr []string
	wantConn = append(wantConn, Direct)
	for _, n := range plan {
		wantConn = append(wantConn, result.CoreTarget(HAProxy, n, true))
	}
	for _, e := range []string{"goroutine", "gnet", DPDKMemif} {
		for _, n := range plan {
			wantConn = append(wantConn, result.CoreTarget(e, n, false))
			wantMsgr = append(wantMsgr, result.CoreTarget(e, n, false))
		}
	}
	defs := r.coresScenarios()
	if len(defs) != 2 || defs[0].res.ID != CoresConnrate || defs[1].res.ID != CoresMsgr {
		t.Fatalf("core scenarios: %d", len(defs))
	}
	for i, want := range [][]string{wantConn, wantMsgr} {
		d := defs[i]
		var got []string
		for _, tg := range d.targets {
			got = append(got, tg.name)
			base, _, ok := result.ParseCoreTarget(tg.name)
			wantAbsent := ""
			switch {
			case !ok:
			case base == "gnet":
				wantAbsent = "not built"
			case base == HAProxy:
				wantAbsent = "haproxy not installed"
			case base == DPDKMemif && d.res.ID == CoresConnrate:
				wantAbsent = memifNoProxy
			}
			if tg.absent != wantAbsent {
				t.Errorf("%s / %s: absent %q, want %q", d.res.ID, tg.name, tg.absent, wantAbsent)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s targets %v, want %v", d.res.ID, got, want)
		}
		if d.res.Pinned || d.res.Split || d.res.Group != result.GroupCores {
			t.Errorf("%s: pinned %v split %v group %q; the sweep runs unpinned in group cores", d.res.ID, d.res.Pinned, d.res.Split, d.res.Group)
		}
	}
}

// TestCoresSuites: the default suite runs the connection-rate sweep's 1
// and 2 worker points only; --scale and --quick run both sweeps.
func TestCoresSuites(t *testing.T) {
	for name, want := range map[string][]string{
		"default": {CoresConnrate},
		"scale":   {CoresConnrate, CoresMsgr},
		"quick":   {CoresConnrate, CoresMsgr},
		"smoke":   nil,
	} {
		r := &runner{cfg: Config{Suite: Suites[name], ClientEngine: "goroutine", BinDir: "/nonexistent"}, absent: map[string]string{}}
		var got []string
		for _, d := range r.selectIDs(r.cfg.Suite.Scenarios) {
			if d.res.Group == result.GroupCores {
				got = append(got, d.res.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("suite %s: core scenarios %v, want %v", name, got, want)
		}
	}
	if Suites["default"].CoresFull || !Suites["scale"].CoresFull {
		t.Error("only the scale suite sweeps every worker count")
	}
}

func TestParseIdle(t *testing.T) {
	text := "cpu  150 7 75 1200 30 1 3 4 7 0\ncpu0 100 5 50 800 20 1 2 3 7 0\ncpu1 50 2 25 400 10 0 1 1 0 0\nintr 1\n"
	all := func(int) bool { return true }
	c, err := parseIdle(text, all)
	if err != nil || c.idle != 1230 || c.total != 1470 {
		t.Errorf("parseIdle(all) = %+v, %v; want idle 1230 (idle+iowait), total 1470 (first 8 fields of cpu0 and cpu1)", c, err)
	}
	c, err = parseIdle(text, func(cpu int) bool { return cpu == 1 })
	if err != nil || c.idle != 410 || c.total != 489 {
		t.Errorf("parseIdle(cpu1) = %+v, %v; want idle 410, total 489", c, err)
	}
	if _, err := parseIdle("cpu0 1 2 3\n", all); err == nil {
		t.Error("short cpu line accepted")
	}
	if _, err := parseIdle(text, func(cpu int) bool { return cpu == 7 }); err == nil {
		t.Error("no line for the CPUs accepted")
	}
}
