package msgrjson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// lineHist is the "hist" of line: 300 round trips, 100 each at 40, 50
// and 60 µs.
var lineHist = func() string {
	h := NewHist()
	for _, us := range []time.Duration{40, 50, 60} {
		_ = h.RecordValues(int64(us*time.Microsecond), 100)
	}
	s, err := EncodeHist(h)
	if err != nil {
		panic(err)
	}
	return s
}()

// The line as CONTRACT.md shows it, byte for byte what core/cli prints.
var line = `{"engine":"gnet","conns":2,"depth":4,"size":4096,"sent":300,"received":300,"errors":0,"seconds":0.5,"msgs_per_s":600,"bytes_per_s":2457600,"rtt_us":{"p50":40,"p90":50,"p99":60,"p999":70,"max":80},"hist":"` + lineHist + `","unanswered":0}`

func TestRoundTrip(t *testing.T) {
	s, err := Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine != "gnet" || s.Size != (Size{4096, 4096}) || s.RTTUs.P999 != 70 || s.MsgsPerS != 600 || s.Hist != lineHist {
		t.Fatalf("%+v", s)
	}
	out, err := json.Marshal(s)
	if err != nil || string(out) != line {
		t.Fatalf("marshal:\n got  %s\n want %s (%v)", out, line, err)
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		flag, json string
		want       Size
	}{
		{"0", `0`, Size{0, 0}},
		{"4096", `4096`, Size{4096, 4096}},
		{"0-5000", `"0-5000"`, Size{0, 5000}},
		{"7-7", `7`, Size{7, 7}},
	} {
		z, err := ParseSize(tc.flag)
		if err != nil || z != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v", tc.flag, z, err)
		}
		b, _ := json.Marshal(z)
		if string(b) != tc.json {
			t.Errorf("marshal %v = %s, want %s", z, b, tc.json)
		}
		var back Size
		if err := json.Unmarshal(b, &back); err != nil || back != z {
			t.Errorf("unmarshal %s = %v, %v", b, back, err)
		}
	}
	for _, bad := range []string{"", "-1", "x", "9-1", "1-", "1-x"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	// A fixed size must be a number and a range a real range: a reader
	// checking the contract sees a producer that gets it wrong.
	for _, bad := range []string{`"4096"`, `"7-7"`, `"9-1"`, `-1`, `1.5`, `null`, `{}`} {
		var z Size
		if err := json.Unmarshal([]byte(bad), &z); err == nil {
			t.Errorf("size %s accepted as %v", bad, z)
		}
	}
}

func TestDecodeMissingKeys(t *testing.T) {
	for _, k := range Keys {
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		delete(m, k)
		b, _ := json.Marshal(m)
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("without %q: %v", k, err)
		}
	}
	for _, k := range RTTKeys {
		b := strings.Replace(line, `"`+k+`":`, `"x`+k+`":`, 1)
		if _, err := Decode([]byte(b)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("without rtt_us %q: %v", k, err)
		}
	}
	if _, err := Decode([]byte(`{"engine":1}`)); err == nil {
		t.Error("bad type accepted")
	}
	for _, bad := range []string{`""`, `"x"`, `null`, `5`} {
		b := strings.Replace(line, `"`+lineHist+`"`, bad, 1)
		if _, err := Decode([]byte(b)); err == nil || !strings.Contains(err.Error(), "hist") {
			t.Errorf("hist %s: %v", bad, err)
		}
	}
}
