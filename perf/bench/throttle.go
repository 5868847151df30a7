package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/promscrape"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// Throttling: a slow dispatcher behind a byte throttle.
const (
	throttleLimit   = 1 << 20 // policy byte throttle
	throttleMsgSize = 64 << 10
	throttleClients = 4
	throttleDepth   = 32
)

// throttleScenario measures one service time (the dispatcher's delay per
// message); two of them show throughput tracking the service rate.
func (r *runner) throttleScenario(client string, throttleDelay time.Duration, id string) *scenarioDef {
	setup := func(engine string, pin int) (*rig, error) {
		port, err := anchor.FreePort()
		if err != nil {
			return nil, err
		}
		flags := []string{"--dispatch-delay", throttleDelay.String(), "--throttle-bytes", fmt.Sprint(throttleLimit)}
		g, err := r.msgrRig(engine, pin, append(flags, "--metrics", fmt.Sprintf("%s:%d", r.host(), port))...)
		if err != nil {
			// Without --metrics the cell still measures rates and
			// fairness; held bytes are then reported as not measured.
			if g2, err2 := r.msgrRig(engine, pin, flags...); err2 == nil {
				return g2, nil
			}
		}
		return g, err
	}
	service := float64(time.Second / throttleDelay)
	return &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:    id,
		Group: "messenger",
		Title: fmt.Sprintf("Messenger throttling: %v dispatch per message, byte throttle %s, %d clients × depth %d × %s",
			throttleDelay, sizeName(throttleLimit), throttleClients, throttleDepth, sizeName(throttleMsgSize)),
		Params: map[string]string{"dispatch_delay": throttleDelay.String(), "throttle_bytes": fmt.Sprint(throttleLimit),
			"clients": fmt.Sprint(throttleClients), "depth": fmt.Sprint(throttleDepth), "size": fmt.Sprint(throttleMsgSize)},
		Metrics: []result.MetricDef{
			mRate,
			{Name: "rate_over_service", Unit: "× service rate", Headline: true},
			{Name: "jain", Unit: "Jain index", Headline: true},
			{Name: "held_max_over_limit", Unit: "× limit", Lower: true, Headline: true},
			{Name: "stall_p50_us", Unit: "µs", Lower: true},
			{Name: "stall_p99_us", Unit: "µs", Lower: true},
			{Name: "stall_max_us", Unit: "µs", Lower: true},
			{Name: "wakeup_p50_us", Unit: "µs", Lower: true},
			{Name: "wakeup_p99_us", Unit: "µs", Lower: true},
			mCPUMsg, mPeakRSS,
		},
		Note: fmt.Sprintf("Service rate %.0f msg/s. Each client is its own %s process with one connection; "+
			"Jain's index is over their rates. Held bytes come from the server's --metrics (msgr_throttle_current / _max / _peak "+
			"of the policy byte throttle), sampled every 10 ms, the peak gauge catching what falls between samples; the acceptance bound is limit + one message = %.3f× limit. Stall = round trip of a message while the throttle holds it back (worst client's p50/p99/max). "+
			"Wake-up = from the throttle release that grants a paused connection reader to that reader running again on its loop, timed inside the server "+
			"(core/throttle; %s{throttle=\"policy_bytes_client\"} on --metrics, 10 buckets per decade, read before and after each repetition; "+
			"p50/p99 interpolated within a bucket as Prometheus's histogram_quantile does, so within about ±13 %%); the report gives how many wake-ups a repetition had.",
			service, client, float64(throttleLimit+throttleMsgSize)/throttleLimit, wakeupMetric),
	}, targets: r.engineTargets(client, setup, func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var series []seriesSample
		var scrapeErr error
		var wg sync.WaitGroup
		if !warm && g.metricsAddr != "" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				series, scrapeErr = scrapeHeld(ctx, "http://"+g.metricsAddr+"/metrics")
			}()
		}
		// The server's wake-up histogram before the load; missing is
		// empty (no wake-up has happened yet).
		var wakeBefore bucketHist
		var wakeErr error
		if !warm && g.metricsAddr != "" {
			wakeBefore, _, wakeErr = scrapeWakeup("http://" + g.metricsAddr + "/metrics")
		}
		outs := make([]sample, throttleClients)
		errs := make([]error, throttleClients)
		var cw sync.WaitGroup
		for i := range outs {
			cw.Add(1)
			go func() {
				defer cw.Done()
				outs[i], _, errs[i] = r.msgrClient(ctx, pin, g, warm, 1, throttleDepth, throttleMsgSize)
			}()
		}
		cw.Wait()
		cancel()
		wg.Wait()
		s := sample{metrics: map[string]float64{}}
		var rates []float64
		var hists []string
		for i, o := range outs {
			if errs[i] != nil {
				return s, fmt.Errorf("client %d: %w", i, errs[i])
			}
			hists = append(hists, o.hist)
			rates = append(rates, o.metrics["rate"])
			s.metrics["rate"] += o.metrics["rate"]
			s.units += o.units
			s.seconds = max(s.seconds, o.seconds)
			// The stall distribution of the worst-treated client.
			s.metrics["stall_p50_us"] = max(s.metrics["stall_p50_us"], o.metrics["p50_us"])
			s.metrics["stall_p99_us"] = max(s.metrics["stall_p99_us"], o.metrics["p99_us"])
			s.metrics["stall_max_us"] = max(s.metrics["stall_max_us"], o.metrics["max_us"])
		}
		// The cell's histogram holds every client's round trips.
		var err error
		if s.hist, err = mergeHists(hists); err != nil {
			return s, err
		}
		s.metrics["rate_over_service"] = s.metrics["rate"] / service
		s.metrics["jain"] = stats.Jain(rates)
		if len(series) > 0 {
			// The server's own peak gauge is exact; the 10 ms samples can
			// miss a short excursion, so take the larger of the two. The
			// bound is the configured limit (what the gauge reports is
			// only plotted).
			peak, limit := 0.0, float64(throttleLimit)
			for _, p := range series {
				peak = max(peak, p.v, p.peak)
			}
			s.metrics["held_max_bytes"] = peak
			s.metrics["held_max_over_limit"] = peak / limit
			s.series = series
		} else if scrapeErr != nil && !warm {
			s.metrics["held_scrape_failed"] = 1
		}
		if !warm && g.metricsAddr != "" {
			after, found, err := scrapeWakeup("http://" + g.metricsAddr + "/metrics")
			switch {
			case firstErr(wakeErr, err) != nil:
				s.metrics["wakeup_scrape_failed"] = 1
			case found:
				d := after.sub(wakeBefore)
				s.metrics["wakeups"] = d.count()
				if d.count() > 0 {
					s.metrics["wakeup_p50_us"] = d.quantile(0.50) * 1e6
					s.metrics["wakeup_p99_us"] = d.quantile(0.99) * 1e6
				}
			}
		}
		return s, nil
	}, memifOnePeer)}
}

// maxSeriesSamples bounds the time series: 100 s at 10 ms, far beyond any
// repetition; later samples are dropped (the peak gauge still counts them).
const maxSeriesSamples = 10000

// scrapeHeld polls a Prometheus text endpoint every 10 ms until ctx ends
// and returns the byte-throttle samples (see parseHeld), or an error if no
// such gauge was ever seen.
func scrapeHeld(ctx context.Context, url string) ([]seriesSample, error) {
	start := time.Now()
	var out []seriesSample
	var lastErr error = fmt.Errorf("no sample")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if len(out) == 0 {
				return nil, fmt.Errorf("scrape %s: %w", url, lastErr)
			}
			return out, nil
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		samples, err := promscrape.Get(sctx, url)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		h := parseHeld(samples)
		if !h.found {
			lastErr = fmt.Errorf("no byte-throttle gauge")
			continue
		}
		if len(out) < maxSeriesSamples {
			out = append(out, seriesSample{t: time.Since(start).Seconds(), v: h.held, limit: h.limit, peak: h.peak})
		}
	}
}

// heldSample is one scrape of the byte throttle.
type heldSample struct {
	held, limit, peak float64
	found             bool
}

// parseHeld reads the byte throttle from Prometheus text. core/msgr
// exports msgr_throttle_{current,max,peak}{throttle="policy_bytes_<type>"};
// the policy byte throttle (--throttle-bytes) is preferred, any other
// *bytes* throttle is the fallback. Names outside that scheme are matched
// loosely (a gauge with "throttle" and "bytes" in its name) so that an
// engine exporting its own names still shows up.
func parseHeld(samples []promscrape.Sample) heldSample {
	var policy, other heldSample // core/msgr's names; anything else
	for _, s := range samples {
		name, v := strings.ToLower(s.Name), s.Value
		// core/msgr's policy throttles exist once a peer of that type has
		// connected; until then only the dispatch throttles are listed,
		// and those are not the throttle under test.
		policyBytes := strings.HasPrefix(s.Labels["throttle"], "policy_bytes")
		switch {
		case name == "msgr_throttle_current" && policyBytes:
			policy.held, policy.found = max(policy.held, v), true
		case name == "msgr_throttle_max" && policyBytes:
			policy.limit = max(policy.limit, v)
		case name == "msgr_throttle_peak" && policyBytes:
			policy.peak = max(policy.peak, v)
		case strings.HasPrefix(name, "msgr_throttle"):
			// other throttles, waits, wait seconds: not the bytes held
		case strings.Contains(name, "throttle") && strings.Contains(name, "bytes"):
			switch {
			case strings.Contains(name, "limit") || strings.Contains(name, "max"):
				other.limit = max(other.limit, v)
			case strings.Contains(name, "peak"):
				other.peak = max(other.peak, v)
			case strings.Contains(name, "total") || strings.Contains(name, "wait"):
			default:
				other.held, other.found = max(other.held, v), true
			}
		}
	}
	if policy.found {
		return policy
	}
	return other
}
