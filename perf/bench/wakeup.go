package bench

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
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
// one under test) from Prometheus text; when the server has none for it,
// the buckets of every throttle are summed (they share their bounds). found
// says whether any bucket line was seen.
func parseWakeup(sc *bufio.Scanner) (h bucketHist, found bool) {
	policy, all := bucketHist{}, bucketHist{}
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, wakeupMetric+"_bucket{") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		labels := f[0][len(wakeupMetric+"_bucket{"):]
		le, ok := labelValue(labels, "le")
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil || math.IsNaN(bound) {
			continue
		}
		found = true
		all[bound] += v
		if th, _ := labelValue(labels, "throttle"); strings.HasPrefix(th, "policy_bytes") {
			policy[bound] += v
		}
	}
	if len(policy) > 0 {
		return policy, found
	}
	return all, found
}

// labelValue finds name="value" in a Prometheus label list (the text
// after '{'). The values core/msgr writes hold no commas or quotes.
func labelValue(labels, name string) (string, bool) {
	for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == name && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			return v[1 : len(v)-1], true
		}
	}
	return "", false
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
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, false, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	h, found = parseWakeup(bufio.NewScanner(resp.Body))
	return h, found, nil
}
