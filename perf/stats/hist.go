package stats

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record nanoseconds from 1 ns to 100 s at three
// significant digits: 0.1 % resolution, mergeable across repetitions and
// processes, small enough to store in the raw JSON (V2 compressed).
const (
	histLowest  = 1
	histHighest = int64(100 * time.Second)
	histDigits  = 3
)

// NewLatencyHist returns an empty latency histogram in nanoseconds.
func NewLatencyHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, histDigits) }

// RecordLatency records d, clamping to the histogram's range so that a
// stall longer than 100 s still counts (as 100 s) instead of vanishing.
func RecordLatency(h *hdr.Histogram, d time.Duration) {
	v := int64(d)
	if v < histLowest {
		v = histLowest
	}
	if v > histHighest {
		v = histHighest
	}
	_ = h.RecordValue(v) // cannot fail: v is in range
}

// Percentiles is the fixed set of latency cuts the report prints, in µs.
type Percentiles struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// PercentilesOf reads the report's cuts from a nanosecond histogram.
func PercentilesOf(h *hdr.Histogram) Percentiles {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Percentiles{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
		Mean:  h.Mean() / 1e3,
	}
}

// EncodeHist returns the histogram in HdrHistogram's V2 compressed base64
// form, readable by every HdrHistogram implementation (HistogramLogAnalyzer).
func EncodeHist(h *hdr.Histogram) (string, error) {
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHist is the inverse of EncodeHist. It accepts only the latency
// histograms' geometry (NewLatencyHist), read from the header before the
// library decodes: the library allocates the counts array its header
// claims (hundreds of MB for 1..MaxInt64 at 5 digits), and every histogram
// this harness writes has the one geometry.
func DecodeHist(s string) (*hdr.Histogram, error) {
	if err := checkGeometry(s); err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	h, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// CurvePoint is one point of a percentile curve: the percentile and the
// latency in µs at it.
type CurvePoint struct {
	Percentile float64
	US         float64
}

// Curve samples the histogram's percentile curve at the usual HdrHistogram
// plot cuts (0, 50, 75, 90, 99, 99.9, ... up to what the count supports).
func Curve(h *hdr.Histogram) []CurvePoint {
	var out []CurvePoint
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	cuts := []float64{0, 10, 25, 50, 75, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999}
	for _, p := range cuts {
		// A percentile needs about 1/(1-p) samples to mean anything.
		if p > 0 && float64(n) < 1/(1-p/100) {
			break
		}
		out = append(out, CurvePoint{p, float64(h.ValueAtQuantile(p)) / 1e3})
	}
	return out
}

// checkGeometry reads the V2 compressed header (base64; big-endian cookie
// and length; zlib: cookie, payload length, normalizing offset, digits,
// lowest, highest) and wants NewLatencyHist's geometry.
func checkGeometry(s string) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return fmt.Errorf("%d bytes, want at least 8", len(b))
	}
	n := binary.BigEndian.Uint32(b[4:])
	if uint64(n) > uint64(len(b)-8) {
		return fmt.Errorf("compressed length %d beyond the %d bytes present", n, len(b)-8)
	}
	z, err := zlib.NewReader(bytes.NewReader(b[8 : 8+n]))
	if err != nil {
		return err
	}
	defer z.Close()
	var h [32]byte
	if _, err := io.ReadFull(z, h[:]); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	digits := int32(binary.BigEndian.Uint32(h[12:]))
	lowest, highest := int64(binary.BigEndian.Uint64(h[16:])), int64(binary.BigEndian.Uint64(h[24:]))
	if digits != histDigits || lowest != histLowest || highest != histHighest {
		return fmt.Errorf("geometry %d..%d at %d digits, want the latency histogram's %d..%d at %d", lowest, highest, digits, histLowest, histHighest, histDigits)
	}
	return nil
}
