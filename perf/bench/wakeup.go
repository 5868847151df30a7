package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/promscrape"
)

// wakeupMetric is core/msgr's histogram of the wake-up latency after a
// throttle release: from the release (Put) that grants a paused connection
// reader to that reader running again on its loop (core/throttle
// WithWakeupObserver). The harness cannot time that event from outside, so
// it reads the server's own histogram before and after each repetition and
// takes the quantiles of the difference.
const wakeupMetric = "msgr_throttle_wakeup_seconds"

// bucketHist is a Prometheus classic histogram: cumulative counts by upper
// bound (seconds; +Inf included).
type bucketHist map[float64]float64

// parseWakeup reads the wake-up histogram of the policy byte throttle (the
// one under test) from a scrape; when the server has none for it, the
// buckets of every throttle are summed (they share their bounds). found
// says whether any bucket was seen.
func parseWakeup(samples []promscrape.Sample) (h bucketHist, found bool) {
	policy, all := bucketHist{}, bucketHist{}
	for _, s := range samples {
		if s.Name != wakeupMetric+"_bucket" || math.IsNaN(s.Value) {
			continue
		}
		bound, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil || math.IsNaN(bound) {
			continue
		}
		found = true
		all[bound] += s.Value
		if strings.HasPrefix(s.Labels["throttle"], "policy_bytes") {
			policy[bound] += s.Value
		}
	}
	if len(policy) > 0 {
		return policy, found
	}
	return all, found
}

// sub is h − before: the observations made in between (a bucket the first
// scrape lacked counted from zero).
func (h bucketHist) sub(before bucketHist) bucketHist {
	out := bucketHist{}
	for b, v := range h {
		out[b] = max(0, v-before[b])
	}
	return out
}

// count is the number of observations (the +Inf bucket, or the largest).
func (h bucketHist) count() float64 {
	n := 0.0
	for _, v := range h {
		n = max(n, v)
	}
	return n
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: find the bucket holding rank q·count and interpolate linearly
// inside it (from 0 for the first bucket); in the +Inf bucket, the highest
// finite bound. NaN when empty.
func (h bucketHist) quantile(q float64) float64 {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := h.count()
	if total == 0 || len(bounds) == 0 {
		return math.NaN()
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for _, b := range bounds {
		c := h[b]
		if c >= rank && c > prev {
			if math.IsInf(b, 1) {
				return lo
			}
			return lo + (b-lo)*(rank-prev)/(c-prev)
		}
		lo, prev = b, c
	}
	return lo
}

// scrapeWakeup reads the wake-up histogram once; found is false when the
// server exports none (no wake-up yet, or an engine without it).
func scrapeWakeup(url string) (h bucketHist, found bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	samples, err := promscrape.Get(ctx, url)
	if err != nil {
		return nil, false, fmt.Errorf("scrape %s: %w", url, err)
	}
	h, found = parseWakeup(samples)
	return h, found, nil
}
