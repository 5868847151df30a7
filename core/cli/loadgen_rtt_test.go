package cli

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
)

// Connections record concurrently, each in its stripe; the merged
// histogram holds every round trip, the maximum is exact, and the number
// of histograms stays bounded however many connections there are.
func TestRTTRecorder(t *testing.T) {
	for _, tc := range []struct {
		conns, perConn int
	}{{1, 1000}, {3, 500}, {4 * runtime.GOMAXPROCS(0), 100}, {10_000, 3}} {
		r := newRTTRecorder(tc.conns)
		if n := len(r.stripes); n > tc.conns || n > maxRTTStripes || n > 4*runtime.GOMAXPROCS(0) {
			t.Fatalf("%d conns: %d stripes", tc.conns, n)
		}
		var wg sync.WaitGroup
		for i := range tc.conns {
			wg.Go(func() {
				s := r.stripe(i)
				for j := range tc.perConn {
					s.record(time.Duration(1000+i+j) * time.Microsecond)
				}
			})
		}
		wg.Wait()
		rtt, enc, err := r.summary()
		if err != nil {
			t.Fatal(err)
		}
		h, err := msgrjson.DecodeHist(enc)
		if err != nil {
			t.Fatal(err)
		}
		wantMax := float64(1000 + tc.conns - 1 + tc.perConn - 1)
		if h.TotalCount() != int64(tc.conns*tc.perConn) || rtt.Max != wantMax || rtt != msgrjson.RTTOf(h, wantMax) {
			t.Fatalf("%d conns: count %d, rtt %+v, want max %v", tc.conns, h.TotalCount(), rtt, wantMax)
		}
	}
}

// Nothing recorded: zeros, and an empty histogram that still decodes.
func TestRTTRecorderEmpty(t *testing.T) {
	rtt, enc, err := newRTTRecorder(2).summary()
	if err != nil || rtt != (msgrjson.RTT{}) {
		t.Fatalf("%+v %v", rtt, err)
	}
	if h, err := msgrjson.DecodeHist(enc); err != nil || h.TotalCount() != 0 {
		t.Fatalf("empty hist: %v", err)
	}
}

// Recording is what every reply pays; with one connection per stripe it
// is an uncontended lock and one bucket increment.
func BenchmarkRTTRecord(b *testing.B) {
	r := newRTTRecorder(runtime.GOMAXPROCS(0))
	var next sync.Mutex
	i := 0
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		s := r.stripe(i)
		i++
		next.Unlock()
		d := 37 * time.Microsecond
		for pb.Next() {
			s.record(d)
		}
	})
}
