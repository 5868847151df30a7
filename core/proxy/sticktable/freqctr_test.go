package sticktable

import "testing"

// The counter follows HAProxy's freq_ctr: the read at each step of a
// scripted timeline (ms since the first event) is what HAProxy's
// read_freq_ctr_period gives for the same events.
func TestFreqCtr(t *testing.T) {
	const p = 10000 // conn_rate(10s)
	type step struct {
		at   int64  // ms
		add  uint64 // events at this time
		want uint64 // read after adding
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"twenty in one period", []step{{0, 20, 20}, {5000, 0, 20}, {9999, 0, 20}}},
		{"previous period fades out linearly", []step{{0, 20, 20}, {15000, 0, 10}, {17500, 0, 5}, {19999, 0, 0}, {20000, 0, 0}, {25000, 0, 0}}},
		{"events across a rotation", []step{{0, 10, 10}, {10000, 4, 14}, {15000, 0, 9}, {20000, 0, 4}, {30001, 0, 0}}},
		{"two idle periods forget everything", []step{{0, 50, 50}, {25000, 1, 1}, {25001, 0, 1}}},
		{"one event per period does not flap", []step{{0, 1, 1}, {10000, 0, 1}, {15000, 0, 1}, {19999, 0, 1}, {20001, 0, 0}}},
		{"rotation keeps period boundaries", []step{{100, 3, 3}, {10099, 1, 4}, {10100, 1, 5}, {15100, 0, 3}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f freqCtr
			for _, s := range c.steps {
				now := tickEpoch + s.at
				if s.add > 0 {
					f.add(now, p, s.add)
				}
				if got := f.read(now, p); got != s.want {
					t.Fatalf("at %d ms: read %d, want %d (ctr %+v)", s.at, got, s.want, f)
				}
			}
		})
	}
}
