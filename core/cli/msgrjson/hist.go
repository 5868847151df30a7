package msgrjson

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

// The "hist" histogram's geometry: nanoseconds from 1 ns to 100 s at three
// significant digits (0.1 % resolution), the perf harness's own latency
// geometry (perf/stats), so the harness merges it with its histograms
// bucket for bucket. A histogram of this geometry takes about 230 KB.
const (
	HistLowest  = 1
	HistHighest = int64(100 * time.Second)
	HistDigits  = 3
)

// maxHistLen bounds an encoded histogram. Every bucket of this geometry
// populated with an incompressible count near 2^33 encodes to 172 KB
// (TestHistWorstCaseFits); a longer string is not one msgr-client wrote.
const maxHistLen = 256 << 10

// NewHist returns an empty round-trip histogram of the contract geometry.
func NewHist() *hdr.Histogram { return hdr.New(HistLowest, HistHighest, HistDigits) }

// RecordRTT records d, clamped to the histogram's range: a round trip
// longer than 100 s still counts (as 100 s) instead of vanishing.
func RecordRTT(h *hdr.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(int64(d), HistLowest), HistHighest)) // in range: cannot fail
}

// RTTOf is the summary's "rtt_us" read from h: each quantile is the
// highest value equivalent to the quantile's bucket (HdrHistogram's
// ValueAtQuantile, as the harness reads its own histograms), but never
// above maxUs, the exact maximum: the bucket's highest value can exceed
// it by up to 0.1 %, and a p99 above the max is no answer (a client run
// printed p99 4444.159 µs, max 4443.389 µs). An empty histogram gives all
// zeros.
func RTTOf(h *hdr.Histogram, maxUs float64) RTT {
	if h.TotalCount() == 0 {
		return RTT{}
	}
	us := func(q float64) float64 { return min(float64(h.ValueAtQuantile(q))/1e3, maxUs) }
	return RTT{P50: us(50), P90: us(90), P99: us(99), P999: us(99.9), Max: maxUs}
}

// EncodeHist is the "hist" field: h in HdrHistogram's V2 compressed
// encoding, base64 (what every HdrHistogram implementation reads, and the
// form the harness stores in run.json).
func EncodeHist(h *hdr.Histogram) (string, error) {
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHist reads the "hist" field. It accepts only the contract
// geometry, and checks the header before hdrhistogram-go allocates the
// counts a header declares, so a hostile or corrupt line costs at most one
// histogram of the contract's size.
func DecodeHist(s string) (*hdr.Histogram, error) {
	if len(s) > maxHistLen {
		return nil, fmt.Errorf("hist: %d bytes, more than %d", len(s), maxHistLen)
	}
	if err := checkHistHeader(s); err != nil {
		return nil, fmt.Errorf("hist: %w", err)
	}
	h, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("hist: %w", err)
	}
	if h.LowestTrackableValue() != HistLowest || h.HighestTrackableValue() != HistHighest || h.SignificantFigures() != HistDigits {
		return nil, fmt.Errorf("hist: geometry %d..%d ns at %d digits, want %d..%d at %d",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), HistLowest, HistHighest, HistDigits)
	}
	return h, nil
}

// V2 compressed layout: a 4-byte cookie and a 4-byte length, then zlib of
// a 40-byte header (cookie, payload length, normalizing offset, digits as
// int32; lowest, highest as int64; conversion ratio as float64) and the
// counts.
const (
	v2OuterLen  = 8
	v2HeaderLen = 40
)

// checkHistHeader inflates only the inner header and checks its geometry.
func checkHistHeader(s string) error {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	if len(raw) < v2OuterLen {
		return fmt.Errorf("%d bytes, shorter than the V2 header", len(raw))
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[v2OuterLen:]))
	if err != nil {
		return err
	}
	defer z.Close()
	var hd [v2HeaderLen]byte
	if _, err := io.ReadFull(z, hd[:]); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	digits := int32(binary.BigEndian.Uint32(hd[12:]))
	lowest := int64(binary.BigEndian.Uint64(hd[16:]))
	highest := int64(binary.BigEndian.Uint64(hd[24:]))
	if lowest != HistLowest || highest != HistHighest || digits != HistDigits {
		return fmt.Errorf("geometry %d..%d ns at %d digits, want %d..%d at %d", lowest, highest, digits, HistLowest, HistHighest, HistDigits)
	}
	return nil
}
