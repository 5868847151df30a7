package cli

import (
	"runtime"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/cpu"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
)

// maxRTTStripes caps the histograms one run keeps (about 230 KB each).
const maxRTTStripes = 64

// rttRecorder collects the run's round-trip times in HdrHistograms
// (msgrjson's geometry) that are merged once, at the end. Connection i
// records into stripe i mod len(stripes), under that stripe's own lock:
// with no more connections than stripes each connection has its own
// histogram and its lock is never contended; beyond that connections
// share, so memory stays bounded however many connections the run opens
// (10,000 connections would otherwise hold 2.3 GB of histograms). Four
// stripes per P keep two replies on different Ps from meeting on one lock
// but rarely.
type rttRecorder struct {
	stripes []rttStripe
}

// rttStripe is one histogram with its exact maximum; padded so that two
// stripes' locks are never on one cache line.
type rttStripe struct {
	mu    sync.Mutex
	h     *hdr.Histogram
	maxNs int64
	_     cpu.CacheLinePad
}

func newRTTRecorder(conns int) *rttRecorder {
	n := max(1, min(conns, 4*runtime.GOMAXPROCS(0), maxRTTStripes))
	r := &rttRecorder{stripes: make([]rttStripe, n)}
	for i := range r.stripes {
		r.stripes[i].h = msgrjson.NewHist()
	}
	return r
}

// stripe is connection i's stripe.
func (r *rttRecorder) stripe(i int) *rttStripe { return &r.stripes[i%len(r.stripes)] }

func (s *rttStripe) record(d time.Duration) {
	s.mu.Lock()
	msgrjson.RecordRTT(s.h, d)
	s.maxNs = max(s.maxNs, int64(d))
	s.mu.Unlock()
}

// merged is every stripe's histogram in one, and the exact maximum.
func (r *rttRecorder) merged() (*hdr.Histogram, time.Duration) {
	all := msgrjson.NewHist()
	var maxNs int64
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		all.Merge(s.h) // same geometry: nothing is dropped
		maxNs = max(maxNs, s.maxNs)
		s.mu.Unlock()
	}
	return all, time.Duration(maxNs)
}

// summary is the summary's "rtt_us" and "hist".
func (r *rttRecorder) summary() (msgrjson.RTT, string, error) {
	h, maxD := r.merged()
	enc, err := msgrjson.EncodeHist(h)
	return msgrjson.RTTOf(h, float64(maxD.Nanoseconds())/1e3), enc, err
}
