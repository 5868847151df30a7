package bench

import (
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/procstat"
	"github.com/netmodels/netmodels/perf/result"
)

func TestParseWindowClose(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want windowCounters
		err  string
	}{
		{"close heap_alloc_bytes=1000 heap_alloc_objects=10 gc_cycles=2", windowCounters{1000, 10, 2}, ""},
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
	addWhere(m, perGB, sample{bytes: 2e9}, &procstat.Times{User: 150, System: 50}, &windowCounters{allocBytes: 4000, allocObjects: 10, gcCycles: 1})
	want := map[string]float64{result.MetricUserS: 1.5, result.MetricSysS: 0.5, result.MetricHeapBytesUnit: 2000, result.MetricAllocsUnit: 5, result.MetricGCCycles: 1}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
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
