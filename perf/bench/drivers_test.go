package bench

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
)

// msgr-client's line (msgrjson.Summary, what core/cli prints) becomes the
// sample's metrics; a fixed size and a range both give the bytes moved.
func TestMsgrSample(t *testing.T) {
	for _, tc := range []struct {
		size  string
		bytes float64
	}{{`4096`, 100 * 4096}, {`"0-5000"`, 100 * 2500}} {
		line := `{"engine":"fake","conns":1,"depth":1,"size":` + tc.size + `,"sent":100,"received":100,"errors":0,"seconds":0.05,"msgs_per_s":2000,"bytes_per_s":8192000,"rtt_us":{"p50":40,"p90":50,"p99":60,"p999":70,"max":80}}`
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
		if s.units != 100 || s.bytes != tc.bytes || s.seconds != 0.05 {
			t.Errorf("size %s: units %v bytes %v seconds %v", tc.size, s.units, s.bytes, s.seconds)
		}
	}
	// A run with an unanswered message or an error is no measurement.
	for _, out := range []msgrjson.Summary{{Sent: 10, Received: 9}, {Sent: 10, Received: 10, Errors: 1}} {
		if _, err := msgrSample(out, 0); err == nil || !strings.Contains(err.Error(), "answered") {
			t.Errorf("%+v: err %v", out, err)
		}
	}
}
