// Package msgrjson is the one JSON line msgr-client prints (CONTRACT.md,
// spec/cli.md): the type core/cli writes and the perf harness and the
// conformance suite read. It imports nothing from the project, so a reader
// of the line (the conformance suite) does not link the messenger it tests.
package msgrjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Summary is msgr-client's result. The field order is the order of the
// keys on the line.
type Summary struct {
	Engine    string  `json:"engine"`
	Conns     int     `json:"conns"`
	Depth     int     `json:"depth"`
	Size      Size    `json:"size"`
	Sent      int64   `json:"sent"`
	Received  int64   `json:"received"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	BytesPerS float64 `json:"bytes_per_s"`
	RTTUs     RTT     `json:"rtt_us"`
	// Hist is every round trip "rtt_us" summarizes, one value per received
	// message, in nanoseconds: an HdrHistogram of the contract geometry
	// (NewHist) in the V2 compressed encoding, base64 (EncodeHist,
	// DecodeHist). With nothing received it is an empty histogram.
	Hist string `json:"hist"`
	// Unanswered counts the ECHOs sent whose reply had not arrived when
	// the run ended (a signal, --timeout, a lost session): every message
	// sent is received, unanswered, or a reply that failed its check
	// (counted in Errors), so none is lost silently. Last, so the keys
	// CONTRACT.md lists keep their order.
	Unanswered int64 `json:"unanswered"`
}

// RTT is the round-trip time distribution in microseconds, counted from
// the moment each ECHO was due (open loop) or sent (closed loop). The
// quantiles are read from Hist (RTTOf), so they are HdrHistogram's, within
// 0.1 %; Max is exact.
type RTT struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Size is --size: a fixed size (Min == Max), written as a JSON number, or
// a range drawn uniformly per message, written as the string "MIN-MAX".
type Size struct{ Min, Max int }

// ParseSize reads --size: "N" or "MIN-MAX" with 0 <= MIN <= MAX.
func ParseSize(s string) (Size, error) {
	lo, hi, rng := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 {
		return Size{}, fmt.Errorf("want BYTES or MIN-MAX")
	}
	b := a
	if rng {
		if b, err = strconv.Atoi(hi); err != nil || b < a {
			return Size{}, fmt.Errorf("want BYTES or MIN-MAX with MIN <= MAX")
		}
	}
	return Size{a, b}, nil
}

// Mean is the average message size.
func (z Size) Mean() float64 { return float64(z.Min+z.Max) / 2 }

func (z Size) String() string {
	if z.Min == z.Max {
		return strconv.Itoa(z.Min)
	}
	return fmt.Sprintf("%d-%d", z.Min, z.Max)
}

// MarshalJSON writes a fixed size as a number, a range as "MIN-MAX".
func (z Size) MarshalJSON() ([]byte, error) {
	if z.Min == z.Max {
		return strconv.AppendInt(nil, int64(z.Min), 10), nil
	}
	return json.Marshal(z.String())
}

// UnmarshalJSON is strict, so that a reader checking the contract notices
// a fixed size written as a string or a range that is not one.
func (z *Size) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseSize(s)
		if err != nil || v.Min == v.Max {
			return fmt.Errorf("size %s: want a number, or \"MIN-MAX\" with MIN < MAX", b)
		}
		*z = v
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || string(b) == "null" {
		return fmt.Errorf("size %s: want a number, or \"MIN-MAX\" with MIN < MAX", b)
	}
	*z = Size{n, n}
	return nil
}

// Keys are the line's top-level keys and RTTKeys those of "rtt_us", in
// order; every one is always present.
var (
	Keys    = []string{"engine", "conns", "depth", "size", "sent", "received", "errors", "seconds", "msgs_per_s", "bytes_per_s", "rtt_us", "hist", "unanswered"}
	RTTKeys = []string{"p50", "p90", "p99", "p999", "max"}
)

// Decode reads one line and checks that every contract key is present
// (a missing key would otherwise read as zero) and that "hist" decodes.
func Decode(line []byte) (Summary, error) {
	var s Summary
	if err := json.NewDecoder(bytes.NewReader(line)).Decode(&s); err != nil {
		return s, err
	}
	var raw struct {
		Top map[string]json.RawMessage
		RTT map[string]json.RawMessage
	}
	if err := json.Unmarshal(line, &raw.Top); err != nil {
		return s, err
	}
	for _, k := range Keys {
		if _, ok := raw.Top[k]; !ok {
			return s, fmt.Errorf("lacks %q", k)
		}
	}
	if err := json.Unmarshal(raw.Top["rtt_us"], &raw.RTT); err != nil {
		return s, fmt.Errorf("rtt_us: %v", err)
	}
	for _, k := range RTTKeys {
		if _, ok := raw.RTT[k]; !ok {
			return s, fmt.Errorf("rtt_us lacks %q", k)
		}
	}
	if _, err := DecodeHist(s.Hist); err != nil {
		return s, err
	}
	return s, nil
}
