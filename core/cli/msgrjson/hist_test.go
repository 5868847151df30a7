package msgrjson

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// A histogram survives the "hist" encoding bucket for bucket, and its
// quantiles and count with it.
func TestHistRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		rtts []time.Duration
	}{
		{"empty", nil},
		{"one", []time.Duration{42 * time.Microsecond}},
		{"clamped", []time.Duration{0, -time.Second, 3 * time.Minute}},
		{"spread", func() []time.Duration {
			r := rand.New(rand.NewPCG(1, 2))
			var d []time.Duration
			for range 100_000 {
				// Log-uniform from 1 µs to 10 s: every bucket range is used.
				d = append(d, time.Duration(1e3*float64(int64(1)<<r.IntN(24))*(1+r.Float64())))
			}
			return d
		}()},
	} {
		h := NewHist()
		for _, d := range tc.rtts {
			RecordRTT(h, d)
		}
		s, err := EncodeHist(h)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		back, err := DecodeHist(s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !back.Equals(h) || back.TotalCount() != int64(len(tc.rtts)) {
			t.Errorf("%s: decoded %d values, want %d, equal %v", tc.name, back.TotalCount(), len(tc.rtts), back.Equals(h))
		}
		if RTTOf(back, 7) != RTTOf(h, 7) {
			t.Errorf("%s: quantiles %+v, want %+v", tc.name, RTTOf(back, 7), RTTOf(h, 7))
		}
		if len(s) > maxHistLen/4 {
			t.Errorf("%s: %d bytes encoded", tc.name, len(s))
		}
	}
	// Out-of-range round trips are clamped, not lost.
	h := NewHist()
	RecordRTT(h, 0)
	RecordRTT(h, time.Hour)
	if h.TotalCount() != 2 || h.Min() != HistLowest || !h.ValuesAreEquivalent(h.Max(), HistHighest) {
		t.Fatalf("clamped: count %d min %d max %d", h.TotalCount(), h.Min(), h.Max())
	}
}

// The worst case maxHistLen must hold: every bucket populated with a
// different large count, which zlib cannot shrink.
func TestHistWorstCaseFits(t *testing.T) {
	h := NewHist()
	r := rand.New(rand.NewPCG(3, 4))
	// Buckets are 1 ns wide below 2,048 ns, then 2^k ns wide in
	// [1024·2^k, 2048·2^k): one value per bucket.
	for v := int64(HistLowest); v <= HistHighest; {
		_ = h.RecordValues(v, 1<<32+r.Int64N(1<<32))
		if v < 2048 {
			v++
		} else {
			v += 1 << (bits.Len64(uint64(v)) - 11)
		}
	}
	s, err := EncodeHist(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) > maxHistLen {
		t.Fatalf("%d bytes encoded, above maxHistLen %d", len(s), maxHistLen)
	}
	if _, err := DecodeHist(s); err != nil {
		t.Fatal(err)
	}
	t.Logf("every bucket populated: %d bytes encoded", len(s))
}

// RTTOf reads the summary's quantiles: HdrHistogram's value at each
// quantile in µs (the highest value of its bucket) but never above the
// exact maximum, which is given, zeros when nothing was recorded.
func TestRTTOf(t *testing.T) {
	uniform := func(n int) []time.Duration { // 1..n µs
		var d []time.Duration
		for i := 1; i <= n; i++ {
			d = append(d, time.Duration(i)*time.Microsecond)
		}
		return d
	}
	for _, tc := range []struct {
		name  string
		rtts  []time.Duration
		maxUs float64
		want  RTT
	}{
		{"empty", nil, 0, RTT{}},
		// Buckets are 1 ns wide below 2,048 ns, then 2^k ns in
		// [1024·2^k, 2048·2^k): 40 µs is in a 32 ns bucket whose highest
		// value is 40.031 µs (above the max: 40); 500 µs in a 256 ns one,
		// 1 ms in a 512 ns one (1000.447 µs, above the max: 1000).
		{"one", []time.Duration{40 * time.Microsecond}, 40, RTT{P50: 40, P90: 40, P99: 40, P999: 40, Max: 40}},
		{"uniform 1..1000 µs", uniform(1000), 1000, RTT{P50: 500.223, P90: 900.095, P99: 990.207, P999: 999.423, Max: 1000}},
		{"bimodal", append(repeat(10*time.Microsecond, 990), repeat(time.Millisecond, 10)...), 1000,
			RTT{P50: 10.007, P90: 10.007, P99: 10.007, P999: 1000, Max: 1000}},
	} {
		h := NewHist()
		for _, d := range tc.rtts {
			RecordRTT(h, d)
		}
		if got := RTTOf(h, tc.maxUs); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// encodeRaw builds a V2 compressed histogram with any header, as a
// producer that gets the contract wrong (or an attacker) would.
func encodeRaw(digits int32, lowest, highest int64, payload []byte) string {
	var inner bytes.Buffer
	for _, v := range []any{int32(0x1c849303 | 0x10), int32(len(payload)), int32(0), digits, lowest, highest, float64(1)} {
		_ = binary.Write(&inner, binary.BigEndian, v)
	}
	inner.Write(payload)
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	_, _ = w.Write(inner.Bytes())
	_ = w.Close()
	var out bytes.Buffer
	_ = binary.Write(&out, binary.BigEndian, int32(0x1c849304|0x10))
	_ = binary.Write(&out, binary.BigEndian, int32(z.Len()))
	out.Write(z.Bytes())
	return base64.StdEncoding.EncodeToString(out.Bytes())
}

func TestDecodeHistRejects(t *testing.T) {
	enc := func(h *hdr.Histogram) string { s, _ := EncodeHist(h); return s }
	good := lineHist
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "shorter"},
		{"not base64", "!!!!", "illegal base64"},
		{"truncated", good[:len(good)/2], ""},
		{"not zlib", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), "zlib"},
		{"other range", enc(hdr.New(1, int64(time.Hour), 3)), "geometry"},
		{"other digits", enc(hdr.New(1, HistHighest, 2)), "geometry"},
		{"µs units", enc(hdr.New(1, int64(100*time.Second/time.Microsecond), 3)), "geometry"},
		// A header declaring a histogram of billions of buckets is refused
		// before anything is allocated for it.
		{"huge geometry", encodeRaw(5, 1, 1<<62, nil), "geometry"},
		{"too long", strings.Repeat("A", maxHistLen+4), "more than"},
		{"payload past counts", encodeRaw(HistDigits, HistLowest, HistHighest, []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x02}), "hist"},
	} {
		h, err := DecodeHist(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v (want an error with %q)", tc.name, h != nil, err, tc.want)
		}
	}
	// The contract geometry built by hand decodes: the rejections above
	// are about the header, not about who wrote it.
	if h, err := DecodeHist(encodeRaw(HistDigits, HistLowest, HistHighest, []byte{0x02})); err != nil || h.TotalCount() != 1 {
		t.Fatalf("hand-built contract histogram: %v", err)
	}
}

// FuzzDecodeHist: no input panics or allocates past one contract
// histogram, and whatever decodes is a contract histogram that survives
// another round trip unchanged.
func FuzzDecodeHist(f *testing.F) {
	f.Add(lineHist)
	for _, rtts := range [][]time.Duration{nil, {time.Microsecond}, {time.Nanosecond, time.Minute, 5 * time.Millisecond}} {
		h := NewHist()
		for _, d := range rtts {
			RecordRTT(h, d)
		}
		s, _ := EncodeHist(h)
		f.Add(s)
	}
	f.Add(encodeRaw(HistDigits, HistLowest, HistHighest, []byte{0x02, 0x01, 0x04}))
	f.Add(encodeRaw(5, 1, 1<<62, nil))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := DecodeHist(s)
		if err != nil {
			return
		}
		if h.LowestTrackableValue() != HistLowest || h.HighestTrackableValue() != HistHighest || h.SignificantFigures() != HistDigits {
			t.Fatalf("decoded a %d..%d/%d histogram", h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures())
		}
		again, err := EncodeHist(h)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeHist(again)
		if err != nil || !back.Equals(h) {
			t.Fatalf("re-encoded histogram: %v, equal %v", err, err == nil && back.Equals(h))
		}
		_ = RTTOf(h, 0)
	})
}
