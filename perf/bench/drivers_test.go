package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/perf/stats"
)

// msgr-client's line (msgrjson.Summary, what core/cli prints) becomes the
// sample's metrics; a fixed size and a range both give the bytes moved.
func TestMsgrSample(t *testing.T) {
	for _, tc := range []struct {
		size  string
		bytes float64
	}{{`4096`, 100 * 4096}, {`"0-5000"`, 100 * 2500}} {
		line := strings.Replace(fakeClientLine, `"size":4096`, `"size":`+tc.size, 1)
		var out msgrjson.Summary
		if err := json.Unmarshal(lastJSONLine([]byte("log line\n"+line+"\n")), &out); err != nil {
			t.Fatalf("size %s: %v", tc.size, err)
		}
		s, err := msgrSample(out, 0.025)
		if err != nil {
			t.Fatal(err)
		}
		m := s.metrics
		if m["rate"] != 2000 || m["p50_us"] != 40 || m["p90_us"] != 50 || m["p99_us"] != 60 || m["p999_us"] != 70 ||
			m["max_us"] != 80 || m["client_cores"] != 0.5 || m["mb_per_s"] != 8.192 {
			t.Errorf("size %s: metrics %v", tc.size, m)
		}
		if s.units != 100 || s.bytes != tc.bytes || s.seconds != 0.05 || s.hist != fakeClientHist {
			t.Errorf("size %s: units %v bytes %v seconds %v hist %.20q", tc.size, s.units, s.bytes, s.seconds, s.hist)
		}
	}
	// A run with an unanswered message or an error is no measurement.
	for _, out := range []msgrjson.Summary{{Sent: 10, Received: 9}, {Sent: 10, Received: 10, Errors: 1}} {
		if _, err := msgrSample(out, 0); err == nil || !strings.Contains(err.Error(), "answered") {
			t.Errorf("%+v: err %v", out, err)
		}
	}
}

// The client's "hist" is checked before it is merged: it must decode with
// the contract geometry and hold one round trip per reply. A run with no
// reply gives no histogram to merge.
func TestMsgrSampleHist(t *testing.T) {
	hist := func(n int64) string {
		h := msgrjson.NewHist()
		_ = h.RecordValues(40_000, n)
		s, _ := msgrjson.EncodeHist(h)
		return s
	}
	other := func() string {
		h := stats.NewLatencyHist()
		_ = h.RecordValues(40_000, 10)
		s, _ := stats.EncodeHist(h)
		return s
	}
	wrongGeometry, _ := msgrjson.EncodeHist(hdr.New(1, int64(time.Hour), 3))
	for _, tc := range []struct {
		name     string
		received int64
		hist     string
		err      string // "" for a good sample
		merged   bool
	}{
		{"ten", 10, hist(10), "", true},
		{"harness-made", 10, other(), "", true},
		{"none received", 0, hist(0), "", false},
		{"short", 10, hist(9), "holds 9 round trips, 10 received", false},
		{"missing", 10, "", "hist", false},
		{"garbage", 10, "AAAA", "hist", false},
		{"other geometry", 10, wrongGeometry, "geometry", false},
	} {
		out := msgrjson.Summary{Sent: tc.received, Received: tc.received, Seconds: 1, Hist: tc.hist}
		s, err := msgrSample(out, 0)
		switch {
		case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && (s.hist != "") != tc.merged:
			t.Errorf("%s: hist %.20q, want merged %v", tc.name, s.hist, tc.merged)
		}
	}
}

// msgr-client's histograms have the harness's geometry (perf/stats), so a
// client's round trips merge into a cell's histogram bucket for bucket.
func TestClientHistGeometry(t *testing.T) {
	c, p := msgrjson.NewHist(), stats.NewLatencyHist()
	if c.LowestTrackableValue() != p.LowestTrackableValue() || c.HighestTrackableValue() != p.HighestTrackableValue() ||
		c.SignificantFigures() != p.SignificantFigures() {
		t.Fatalf("msgrjson %d..%d/%d, perf/stats %d..%d/%d", c.LowestTrackableValue(), c.HighestTrackableValue(), c.SignificantFigures(),
			p.LowestTrackableValue(), p.HighestTrackableValue(), p.SignificantFigures())
	}
	for _, v := range []int64{1, 999, 40_031, 1e9, int64(100 * time.Second)} {
		msgrjson.RecordRTT(c, time.Duration(v))
	}
	if dropped := p.Merge(c); dropped != 0 || !p.Equals(c) {
		t.Fatalf("merge dropped %d, equal %v", dropped, p.Equals(c))
	}
}

func TestMergeHists(t *testing.T) {
	enc := func(vs ...int64) string {
		h := stats.NewLatencyHist()
		for _, v := range vs {
			_ = h.RecordValue(v)
		}
		s, _ := stats.EncodeHist(h)
		return s
	}
	for _, tc := range []struct {
		name  string
		in    []string
		count int64
	}{
		{"none", nil, 0},
		{"empty ones", []string{"", enc()}, 0},
		{"three clients", []string{enc(1000, 2000), "", enc(3000)}, 3},
	} {
		got, err := mergeHists(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.count == 0 {
			if got != "" {
				t.Errorf("%s: %.20q, want none", tc.name, got)
			}
			continue
		}
		h, err := stats.DecodeHist(got)
		if err != nil || h.TotalCount() != tc.count {
			t.Errorf("%s: %v, count %d", tc.name, err, h.TotalCount())
		}
	}
	if _, err := mergeHists([]string{"!!"}); err == nil {
		t.Error("garbage merged")
	}
}
