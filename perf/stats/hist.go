package stats

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
)

// Latency histograms are the msgr-client's (core/cli/msgrjson, the CLI
// contract's "hist"): nanoseconds from 1 ns to 100 s at three significant
// digits, 0.1 % resolution. One geometry for every histogram of a run, so
// the client's and the harness's merge bucket for bucket; small enough to
// store in the raw JSON (V2 compressed).

// NewLatencyHist returns an empty latency histogram in nanoseconds.
func NewLatencyHist() *hdr.Histogram { return msgrjson.NewHist() }

// RecordLatency records d, clamping to the histogram's range so that a
// stall longer than 100 s still counts (as 100 s) instead of vanishing.
func RecordLatency(h *hdr.Histogram, d time.Duration) { msgrjson.RecordRTT(h, d) }

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
func EncodeHist(h *hdr.Histogram) (string, error) { return msgrjson.EncodeHist(h) }

// DecodeHist is the inverse of EncodeHist. It accepts only the latency
// geometry and checks the header before the library allocates the counts
// a header claims (msgrjson.DecodeHist).
func DecodeHist(s string) (*hdr.Histogram, error) { return msgrjson.DecodeHist(s) }

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
