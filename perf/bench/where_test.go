package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/cpuprof"
	"github.com/netmodels/netmodels/perf/cpuprof/cpuproftest"
	"github.com/netmodels/netmodels/perf/procstat"
	"github.com/netmodels/netmodels/perf/result"
)

func TestParseWindowClose(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want windowCounters
		err  string
	}{
		{"close heap_alloc_bytes=1000 heap_alloc_objects=10 gc_cycles=2", windowCounters{allocBytes: 1000, allocObjects: 10, gcCycles: 2}, ""},
		{"close heap_alloc_bytes=1000 heap_alloc_objects=10 gc_cycles=2 goroutines_created=7", windowCounters{allocBytes: 1000, allocObjects: 10, gcCycles: 2, goroutines: 7, hasGoroutines: true}, ""},
		{"close gc_cycles=0 heap_alloc_objects=0 heap_alloc_bytes=0 later=7", windowCounters{}, ""},
		{"close heap_alloc_bytes=1", windowCounters{}, "lacks"},
		{"open", windowCounters{}, "answer"},
		{"", windowCounters{}, "answer"},
		{"close heap_alloc_bytes", windowCounters{}, "field"},
		{"close heap_alloc_bytes=-1 heap_alloc_objects=0 gc_cycles=0", windowCounters{}, "heap_alloc_bytes"},
	} {
		got, err := parseWindowClose(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestAddWhere(t *testing.T) {
	m := map[string]float64{}
	addWhere(m, perGB, sample{bytes: 2e9}, &procstat.Times{User: 150, System: 50, VolSwitches: 30}, &windowCounters{allocBytes: 4000, allocObjects: 10, gcCycles: 1, goroutines: 8, hasGoroutines: true})
	want := map[string]float64{result.MetricUserS: 1.5, result.MetricSysS: 0.5, result.MetricHeapBytesUnit: 2000, result.MetricAllocsUnit: 5, result.MetricGCCycles: 1,
		result.MetricVolSwitchesUnit: 15, result.MetricGoroutinesUnit: 4}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	m = map[string]float64{}
	addWhere(m, perGB, sample{bytes: 1e9}, nil, &windowCounters{allocBytes: 1})
	if _, ok := m[result.MetricGoroutinesUnit]; ok {
		t.Errorf("goroutines per unit from an answer without the counter: %v", m)
	}
	m = map[string]float64{}
	addWhere(m, perMsg, sample{units: 0}, nil, &windowCounters{allocBytes: 1})
	if _, ok := m[result.MetricHeapBytesUnit]; ok || len(m) != 1 {
		t.Errorf("no units, no times: %v", m)
	}
	if unitName(perGB) != "GB" || unitName(perNone) != "" {
		t.Error("unitName")
	}
	if got := profileFile("proxy-idle", "raw-tcp / direct"); got != "profile-proxy-idle-raw-tcp___direct.pb.gz" {
		t.Errorf("profileFile: %s", got)
	}
	if profileRep(5) != 2 || profileRep(2) != 1 || profileRep(1) != 0 {
		t.Error("profileRep")
	}
}

// windowEngine is fakeEngine whose msgr-server speaks core/cli's window
// protocol when NETMODELS_WINDOW=stdin: it answers on stderr and, closing
// a profiled window, copies $FAKE_PROFILE (a real pprof file) to the path
// it was given.
var windowEngine = `#!/bin/sh
case "$1" in
version) echo "fake 0.0.1";;
msgr-server)
  [ "$2" = -h ] && exit 0
  echo "READY 127.0.0.1:9"
  [ "$NETMODELS_WINDOW" = stdin ] || exec sleep 60
  n=0; prof=""
  while read cmd path hz; do
    n=$((n+1))
    case "$cmd" in
    open) prof="$path"; echo "fake: WINDOW $n open" >&2;;
    close) [ -n "$prof" ] && cp "$FAKE_PROFILE" "$prof"; prof=""
           echo "fake: WINDOW $n close heap_alloc_bytes=409600 heap_alloc_objects=200 gc_cycles=1" >&2;;
    *) echo "fake: WINDOW $n error unknown" >&2;;
    esac
  done
  exec sleep 60;;
msgr-client) echo '` + fakeClientLine + `';;
*) exit 2;;
esac
`

func TestRunnerWhereTheTimeGoes(t *testing.T) {
	dir, self, bin := harnessDir(t, map[string]string{"fake": windowEngine})
	// The profile the fake "writes": one stack in core/msgr.
	b, err := cpuproftest.Profile(1e6, [][]string{{"github.com/netmodels/netmodels/core/msgr.(*Connection).read"}}, []int64{7e6})
	if err != nil {
		t.Fatal(err)
	}
	fakeProf := filepath.Join(dir, "fake.pb.gz")
	if err := os.WriteFile(fakeProf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_PROFILE", fakeProf)
	profiles := filepath.Join(dir, "profiles")
	os.MkdirAll(profiles, 0o755)
	suite := Suite{Name: "test", Reps: 3, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, ScaleConns: 10,
		Scenarios: []string{"msgr-pingpong-4KiB-pinned", "msgr-pingpong-4KiB-unpinned"}}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake"}, ClientEngine: "fake", Self: self, PinCPU: 0, WorkDir: dir, ProfileDir: profiles}
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	// (The shell fake dies of SIGTERM, which is noted; nothing else may be.)
	for _, n := range run.Notes {
		if !strings.Contains(n, "exit status after SIGTERM") {
			t.Errorf("note: %s", n)
		}
	}
	head := run.Scenario("msgr-pingpong-4KiB-pinned")
	if head == nil || !head.Headline || head.Unit != "msg" {
		t.Fatalf("headline scenario: %+v", head)
	}
	fake := head.Cell("fake")
	if fake.Status != result.StatusOK {
		t.Fatalf("fake: %+v", fake)
	}
	for _, m := range []string{result.MetricUserS, result.MetricSysS} {
		if n := len(fake.Values(m)); n != 3 {
			t.Errorf("%s in %d repetitions, want 3", m, n)
		}
		if n := len(head.Cell(RawTCP).Values(m)); n != 3 {
			t.Errorf("anchor: %s in %d repetitions, want 3", m, n)
		}
	}
	if s := fake.Summary[result.MetricHeapBytesUnit]; s.N != 3 || s.Median != 4096 {
		t.Errorf("heap bytes per msg: %+v, want 4096 (409600 over 100 messages)", s)
	}
	if s := fake.Summary[result.MetricAllocsUnit]; s.Median != 2 {
		t.Errorf("allocs per msg: %+v", s)
	}
	if _, ok := head.Cell(RawTCP).Summary[result.MetricHeapBytesUnit]; ok {
		t.Error("an anchor has heap figures")
	}
	p := fake.Profile
	if p == nil || p.Rep != 1 || p.Samples != 7 || p.ClassNS[cpuprof.Protocol] != 7e6 || p.File != "profile-msgr-pingpong-4KiB-pinned-fake.pb.gz" {
		t.Fatalf("profile: %+v", p)
	}
	if _, err := os.Stat(filepath.Join(profiles, p.File)); err != nil {
		t.Fatal(err)
	}
	// Not a headline scenario: none of it.
	other := run.Scenario("msgr-pingpong-4KiB-unpinned").Cell("fake")
	if other.Profile != nil || len(other.Values(result.MetricUserS)) != 0 || len(other.Values(result.MetricHeapBytesUnit)) != 0 {
		t.Errorf("non-headline cell has where figures: %+v", other)
	}
}
