package stats

import (
	"testing"
	"time"
)

// FuzzDecodeHist: whatever a run.json (or a client's summary) holds in a
// histogram field, decoding returns an error or a histogram that encodes
// and decodes again to the same counts; it never panics.
func FuzzDecodeHist(f *testing.F) {
	h := NewLatencyHist()
	for _, d := range []time.Duration{time.Microsecond, 18 * time.Microsecond, time.Millisecond, 3 * time.Second} {
		RecordLatency(h, d)
	}
	good, err := EncodeHist(h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add("")
	f.Add("HISTFAAAAB54nJNpmSzMwMDAzQABzFCaEUzOmTUJzAcAKTkDCA==")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := DecodeHist(s)
		if err != nil {
			return
		}
		enc, err := EncodeHist(h)
		if err != nil {
			return // a decoded histogram the library cannot encode again: not ours to judge
		}
		again, err := DecodeHist(enc)
		if err != nil {
			t.Fatalf("re-encoded histogram does not decode: %v", err)
		}
		if again.TotalCount() != h.TotalCount() || again.Max() != h.Max() {
			t.Fatalf("round trip changed counts: %d/%d -> %d/%d", h.TotalCount(), h.Max(), again.TotalCount(), again.Max())
		}
	})
}
