package cli

import (
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
)

// maxRTTSamples bounds the reservoir: beyond it, each new sample replaces
// a random one (Algorithm R), so the quantiles stay those of the whole run.
const maxRTTSamples = 1 << 20

// rttReservoir collects round-trip times (µs) for the summary's quantiles;
// the maximum is exact.
type rttReservoir struct {
	mu    sync.Mutex
	rtts  []float64
	seen  int64
	maxUs float64
}

func (r *rttReservoir) record(us float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	r.maxUs = max(r.maxUs, us)
	if len(r.rtts) < maxRTTSamples {
		r.rtts = append(r.rtts, us)
	} else if j := rand.Int64N(r.seen); j < maxRTTSamples {
		r.rtts[j] = us
	}
}

// summary is the nearest-rank quantiles of the samples; all zero when
// there are none.
func (r *rttReservoir) summary() msgrjson.RTT {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rtts) == 0 {
		return msgrjson.RTT{}
	}
	s := slices.Clone(r.rtts)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return msgrjson.RTT{P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: r.maxUs}
}
