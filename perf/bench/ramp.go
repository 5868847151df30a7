package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/result"
)

// Latency against offered load (issue 19, item 1). A ramp cell first
// measures the target's closed-loop rate over the same single connection
// (the probe: what it saturates at), in its warm-up: RampSpec.Probes runs,
// the highest kept. Then each repetition offers it an open-loop load at
// each of RampSpec.Fractions of that one rate, one load generator per
// step, latency counted from each request's intended send time
// (coordinated omission corrected, as in the single-point open-loop
// scenarios, whose pacers these are). The knee of a repetition is where
// its p99 crosses the scenario's bound (kneeOf).
//
// Why one probe per cell and not one per repetition: a 100 ms closed-loop
// probe varies by ±30 % between repetitions on this machine, so each
// repetition offered other rates, its knee moved with its probe (the
// knees of one cell spread 2×: rawepoll's proxy 6.6k-14.5k msg/s in
// 2026-12-07T125118Z), and a step of the chart mixed different loads.
// With one probe every repetition offers the same rates. The highest of
// the probes, because what disturbs a closed loop on a shared machine (a
// stall, a neighbour's burst) only ever slows it.

// RampSpec sizes a suite's ramp steps.
type RampSpec struct {
	// Fractions of the probe's closed-loop rate offered, in order.
	Fractions []float64
	// Samples is the round trips a step aims to hold: its length is
	// Samples / offered rate, within [MinStep, MaxStep]. The p99 of n
	// samples is their n/100-th slowest, so this sets how many samples
	// the p99 rests on (500: the 5th slowest in a repetition).
	Samples          int
	MinStep, MaxStep time.Duration
	// Probe is the closed-loop run that finds the saturation rate;
	// Probes of them run in the cell's warm-up and the highest rate is
	// the cell's (at least one).
	Probe  time.Duration
	Probes int
	// StepWarmup is each loadgen step's closed-loop warm-up on its own
	// connection (--warmup; not recorded). msgr-client has no warm-up:
	// it opens its session before the schedule starts (--handshake-first).
	StepWarmup time.Duration
	// Reps, when more than zero, is how many repetitions a ramp runs
	// instead of the suite's. A knee sits near saturation, so it follows
	// the capacity its target gets in that repetition, and on a shared
	// machine that moves: in one default run HAProxy's rate at the 100 %
	// step was 34.6-36.6k msg/s in all five repetitions, in the next
	// 30.2-34.7k, and gnet's proxy knee ÷ HAProxy's moved 25 % between
	// the two runs (0.856 → 1.07) while every other knee ratio and all
	// 157 headline ratios stayed within 15 %. More repetitions narrow
	// the median where a longer step would not: the swings last seconds.
	Reps int
	// Coarse ramps prove the ramp works but hold too few round trips per
	// step for their knee to judge a change: the knee is reported, not a
	// headline metric, so `perf compare --fail-on` does not gate on it.
	// (QuickRamp: a no-op change, --quick --baseline HEAD~1, once read as
	// gnet's proxy knee 24.4 % worse, p = 0.032, with every other of 325
	// comparisons within the gate.)
	Coarse bool
}

// rampTenths is 10 %, 20 %, ... 120 % of the probe rate: from light load
// to past saturation.
var rampTenths = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2}

// DefaultRamp: each step holds 500 round trips, so a repetition's p99 is
// its 5th slowest (the 25th of the five repetitions' merged histogram the
// chart's curve could be read from). That is enough for the knee: below
// it the p99 sits far under the bound (100-300 µs against 1 ms on
// loopback), and at it the p99 grows several-fold from one step to the
// next, so a p99 off by a third moves the knee by a step at most. Steps
// last 25 ms (the top steps at loopback rates: 500 round trips at
// 20,000/s) to 250 ms (the low steps of a slow target: bin/dpdk's proxy
// saturates near 2,000/s, where 500 round trips at 10 % would take
// 2.5 s). At 25,000/s saturation a repetition's steps take 0.65 s; the
// default suite's two ramps took 124-140 s of cell time with five engines
// and dpdk-memif (2026-12-07T151417Z and 2026-12-07T152912Z; perf/README.md,
// "Latency against offered load").
// Nine repetitions (Reps) add about 45 s to the default suite.
var DefaultRamp = RampSpec{Fractions: rampTenths, Samples: 500, MinStep: 25 * time.Millisecond, MaxStep: 250 * time.Millisecond,
	Probe: 100 * time.Millisecond, Probes: 3, StepWarmup: 10 * time.Millisecond, Reps: 9}

// QuickRamp: 300 round trips per step (the p99 on 3 per repetition):
// proves the ramp works, too coarse to compare knees.
var QuickRamp = RampSpec{Fractions: rampTenths, Samples: 300, MinStep: 20 * time.Millisecond, MaxStep: 150 * time.Millisecond,
	Probe: 100 * time.Millisecond, Probes: 2, StepWarmup: 5 * time.Millisecond, Coarse: true}

func (r *runner) rampSpec() RampSpec { return r.cfg.Suite.RampSpec() }

// RampSpec is the suite's ramp: Ramp, or DefaultRamp when it has none.
func (s Suite) RampSpec() RampSpec {
	if len(s.Ramp.Fractions) == 0 {
		return DefaultRamp
	}
	return s.Ramp
}

// rampStep is one planned step.
type rampStep struct {
	frac, offered float64 // fraction of the probe rate, msgs/s
	dur           time.Duration
}

// planRamp turns the probe's closed-loop rate into the steps.
func planRamp(sat float64, spec RampSpec) ([]rampStep, error) {
	if !(sat > 0) || math.IsInf(sat, 0) {
		return nil, fmt.Errorf("ramp: closed-loop probe rate %v: nothing to scale the steps by", sat)
	}
	if len(spec.Fractions) == 0 || spec.Samples < 1 || spec.MinStep <= 0 || spec.MaxStep < spec.MinStep {
		return nil, fmt.Errorf("ramp: bad spec %+v", spec)
	}
	var out []rampStep
	for i, f := range spec.Fractions {
		if !(f > 0) || (i > 0 && f <= spec.Fractions[i-1]) {
			return nil, fmt.Errorf("ramp: fractions must be positive and increasing: %v", spec.Fractions)
		}
		offered := f * sat
		d := time.Duration(float64(spec.Samples) / offered * float64(time.Second))
		d = min(max(d, spec.MinStep), spec.MaxStep).Round(time.Millisecond)
		out = append(out, rampStep{frac: f, offered: offered, dur: d})
	}
	return out, nil
}

// rampPoint is one step's outcome in one repetition.
type rampPoint struct{ achieved, p99 float64 }

// kneeOf is where the p99 crosses boundUS, with the p99 of the step below
// the crossing; ok is false when no step is under the bound. pts are the
// steps in the order offered.
//
// The step below is the one of highest achieved rate among those whose
// p99 is at most boundUS, not the last one before the first step over
// it: a stall of the shared machine that lifts one low step's p99 would
// otherwise cut the knee to that step (the chart shows every step). When
// the next step is over the bound and achieved more, the knee lies
// between the two, where the p99 interpolated log-linearly in the
// achieved rate meets the bound: at the knee the p99 grows several-fold
// from one step to the next, so the steps alone would quantize the knee
// to 10 % of the probe, and a p99 just under or just over the bound at
// one step would move it by that whole step.
func kneeOf(pts []rampPoint, boundUS float64) (rate, p99 float64, ok bool) {
	best := -1
	for i, p := range pts {
		if p.p99 <= boundUS && p.achieved > 0 && (best < 0 || p.achieved > pts[best].achieved) {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	lo := pts[best]
	rate, p99 = lo.achieved, lo.p99
	if best+1 < len(pts) {
		hi := pts[best+1]
		if hi.p99 > boundUS && hi.achieved > lo.achieved && lo.p99 > 0 {
			f := math.Log(boundUS/lo.p99) / math.Log(hi.p99/lo.p99)
			rate += f * (hi.achieved - lo.achieved)
		}
	}
	return rate, p99, true
}

// minStepRoundTrips is the fewest round trips whose p99 the knee trusts:
// of fewer, the "p99" is about their maximum.
const minStepRoundTrips = 100

// stepRan says whether a step's figures measure its load. Both load
// generators send every request their schedule makes due, late or not,
// so a step completes about offered × length round trips, past
// saturation too. Far fewer means the schedule never ran: the process got
// no CPU until its window had passed (seen at load average 13 on 2 cores:
// 1 round trip instead of 100, an "achieved rate" of 8/s). And a step of
// fewer than minStepRoundTrips has no p99 to speak of: the probe itself
// was starved (seen at load average 6: a 100 ms probe that completed one
// round trip, 5/s, so every step offered under 6/s and ran one round
// trip each). Such steps stay in run.json with round_trips and
// done_of_due but have no say in the knee.
func stepRan(m map[string]float64) bool {
	return m["done_of_due"] >= 0.5 && m["round_trips"] >= minStepRoundTrips
}

// rampRep is one repetition's steps, for the runner to add to the cell.
type rampRep struct {
	boundUS float64
	steps   []rampStepSample
}

type rampStepSample struct {
	frac    float64
	metrics map[string]float64
	hist    string
}

// stepOut is one load generator run of a ramp.
type stepOut struct {
	metrics map[string]float64 // rate (achieved) and the percentiles
	hist    string
	ops     float64
	seconds float64
	cpu     float64 // the load generator's CPU seconds
}

// stepFunc runs one load generator against g: closed loop for rate 0,
// else open loop at rate msgs/s, for d after a warm-up of w.
type stepFunc func(ctx context.Context, g *rig, pin int, rate float64, d, w time.Duration) (stepOut, error)

var stepKeys = []string{"rate", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"}

func keepKeys(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, k := range stepKeys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// rampLoad is a ramp cell's load: the probes in the warm-up, then every
// step in each repetition (see the top of this file). The warm-up is a
// closed-loop run of the suite's warm-up before the probes.
func (r *runner) rampLoad(boundUS float64, step stepFunc) func(context.Context, *rig, int, bool) (sample, error) {
	return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		spec := r.rampSpec()
		none := sample{metrics: map[string]float64{}}
		if warm {
			if _, err := step(ctx, g, pin, 0, r.cfg.Suite.Warmup, 0); err != nil {
				return none, err
			}
			g.rampSat = 0
		}
		var units, secs, cpu float64
		// A rig started without the warm-up (none is, today) probes
		// once it is needed.
		if g.rampSat == 0 {
			var sat float64
			for range max(spec.Probes, 1) {
				probe, err := step(ctx, g, pin, 0, spec.Probe, spec.StepWarmup)
				if err != nil {
					return none, fmt.Errorf("closed-loop probe: %w", err)
				}
				sat = max(sat, probe.metrics["rate"])
				units, secs, cpu = units+probe.ops, secs+probe.seconds, cpu+probe.cpu
			}
			g.rampSat = sat
		}
		if warm {
			return none, nil
		}
		sat := g.rampSat
		plan, err := planRamp(sat, spec)
		if err != nil {
			return none, err
		}
		rr := &rampRep{boundUS: boundUS}
		var pts []rampPoint
		for _, st := range plan {
			o, err := step(ctx, g, pin, st.offered, st.dur, spec.StepWarmup)
			if err != nil {
				return none, fmt.Errorf("step %.0f %% (%.0f/s for %v): %w", st.frac*100, st.offered, st.dur, err)
			}
			m := keepKeys(o.metrics)
			m["offered_per_s"], m["seconds"] = st.offered, o.seconds
			m["done_of_due"] = o.ops / (st.offered * st.dur.Seconds())
			m["round_trips"] = o.ops
			rr.steps = append(rr.steps, rampStepSample{frac: st.frac, metrics: m, hist: o.hist})
			if stepRan(m) {
				pts = append(pts, rampPoint{achieved: m["rate"], p99: m["p99_us"]})
			}
			units, secs, cpu = units+o.ops, secs+o.seconds, cpu+o.cpu
		}
		// No step under the bound is a knee of 0: the target never met
		// it, which the median and its CI must count, not skip. No step
		// that ran is no knee at all: nothing was measured.
		m := map[string]float64{"probe_per_s": sat}
		if len(pts) > 0 {
			knee, kp99, ok := kneeOf(pts, boundUS)
			m["knee_per_s"], m["knee_fraction"] = knee, knee/sat
			if ok {
				m["knee_p99_us"] = kp99
			}
		}
		if secs > 0 {
			m["client_cores"] = cpu / secs
		}
		return sample{metrics: m, units: units, seconds: secs, ramp: rr}, nil
	}
}

// loadgenStep is a ramp step of `perf loadgen pingpong` with the flags
// args(g) gives (address, size), one connection.
func (r *runner) loadgenStep(args func(g *rig) []string) stepFunc {
	return func(ctx context.Context, g *rig, pin int, rate float64, d, w time.Duration) (stepOut, error) {
		flags := append(args(g), "--conns", "1", "--duration", d.String(), "--warmup", w.String())
		if rate > 0 {
			flags = append(flags, "--rate", fmt.Sprintf("%.1f", rate))
		}
		var res loadgen.Result
		// Past saturation the backlog drains after d: at 120 % a fifth
		// of d more. The rest is the backstop for a wedged process.
		cpu, err := r.runJSON(ctx, pin, r.loadgenArgs("pingpong", flags...), 2*d+w+15*time.Second, &res)
		if err == nil && res.Err != "" {
			err = errors.New(res.Err)
		}
		if err == nil && (res.Ops == 0 || res.Latency == nil) {
			err = fmt.Errorf("loadgen pingpong: nothing completed in %s", d)
		}
		if err != nil {
			return stepOut{}, err
		}
		m := map[string]float64{"rate": res.OpsPerS, "p50_us": res.Latency.P50, "p90_us": res.Latency.P90,
			"p99_us": res.Latency.P99, "p999_us": res.Latency.P999, "max_us": res.Latency.Max}
		return stepOut{metrics: m, hist: res.Hist, ops: float64(res.Ops), seconds: res.Seconds, cpu: cpu}, nil
	}
}

// msgrStep is a ramp step of the run's msgr-client (or the client g asks
// for), one connection, depth 1, ECHOs of size bytes; its session is open
// before the schedule starts (--handshake-first), so the step measures the
// load and not the connect. w is unused: msgr-client has no warm-up.
func (r *runner) msgrStep(size int) stepFunc {
	return func(ctx context.Context, g *rig, pin int, rate float64, d, _ time.Duration) (stepOut, error) {
		bin, eflags := r.clientBin(), []string(nil)
		if g.client != nil {
			bin, eflags = g.client.bin, g.client.flags
		}
		argv := []string{bin, "msgr-client", "--connect", g.addr["msgr"], "--conns", "1", "--depth", "1",
			"--size", fmt.Sprint(size), "--duration", d.String(), "--handshake-first"}
		if rate > 0 {
			argv = append(argv, "--rate", fmt.Sprintf("%.1f", rate))
		}
		argv = append(argv, eflags...)
		var out msgrjson.Summary
		cpu, err := r.runJSON(ctx, pin, argv, 2*d+60*time.Second, &out)
		if err != nil {
			return stepOut{}, err
		}
		s, err := msgrSample(out, cpu)
		if err != nil {
			return stepOut{}, err
		}
		return stepOut{metrics: s.metrics, hist: s.hist, ops: s.units, seconds: s.seconds, cpu: cpu}, nil
	}
}

// addRamp adds a repetition's steps to the cell, merging each step's
// histogram into the cell's.
func (cr *cellRun) addRamp(rr *rampRep) {
	if rr == nil {
		return
	}
	c := cr.cell
	if c.Ramp == nil {
		c.Ramp = &result.Ramp{BoundUS: rr.boundUS}
		for _, s := range rr.steps {
			c.Ramp.Steps = append(c.Ramp.Steps, result.RampStep{Fraction: s.frac})
		}
	}
	for i, s := range rr.steps {
		if i >= len(c.Ramp.Steps) {
			break // the plan has as many steps every repetition
		}
		st := &c.Ramp.Steps[i]
		st.Reps = append(st.Reps, result.Rep{Metrics: s.metrics})
		if h, err := mergeHists([]string{st.Hist, s.hist}); err == nil {
			st.Hist = h
		} else {
			cr.note("ramp step %d: histogram: %v", i+1, err)
		}
	}
}

// Ramp scenarios' metrics.
var (
	mKnee     = result.MetricDef{Name: "knee_per_s", Unit: "msg/s", Headline: true}
	mKneeP99  = result.MetricDef{Name: "knee_p99_us", Unit: "µs", Lower: true}
	mProbe    = result.MetricDef{Name: "probe_per_s", Unit: "msg/s"}
	mKneeFrac = result.MetricDef{Name: "knee_fraction", Unit: "× probe"}
)

// The ramps' knee bounds: a few times the p99 a light open-loop load
// gets, so that queueing, not the load generator's own floor, crosses
// them; an overloaded target crosses either within milliseconds. In the
// default run 2026-12-07T040741Z, at 2,000/s (10-15 % of saturation),
// proxy-openloop-64B-pinned had p99 200-290 µs with every kernel proxy:
// 1 ms. msgr-openloop-4KiB (unpinned, the msgr-client's pacer waking on
// either CPU: p50 176 µs against 68 closed loop) had p99 490-880 µs
// already: with 1 ms the kernel engines' knees would sit at the first
// steps whatever their capacity, so 2 ms.
//
// KEEPALIVE2 (pinned, the harness's own loadgen as the proxy ramp's): 1 ms,
// as the proxy's; its light-load open-loop p99 is of the same order
// (msgr-keepalive-openloop-pinned).
const (
	proxyRampBoundUS = 1000
	kaRampBoundUS    = 1000
	msgrRampBoundUS  = 2000
)

func rampNote(spec RampSpec, driver string, boundUS float64) string {
	var pct []string
	for _, f := range spec.Fractions {
		pct = append(pct, fmt.Sprintf("%.0f", f*100))
	}
	return fmt.Sprintf("Latency against offered load, one connection, one request in flight. The cell's warm-up runs %s closed loop %d times for %v (the probe: the rate the target saturates at; the highest of them is kept, since what disturbs a closed loop on a shared machine only slows it), "+
		"then every repetition offers the same open-loop steps, %s %% of that rate, one load generator per step, latency counted from each request's intended send time (coordinated omission corrected: a late reply delays the sends after it and is charged to them, as wrk2; past saturation the queue, and so the latency, grows through the step). "+
		"Each step lasts long enough for %d round trips, so a repetition's p99 of the step rests on its %d slowest, between %v and %v. "+
		"Knee: per repetition, where the p99 crosses %.0f µs: the highest achieved rate of a step whose p99 is at most the bound, moved toward the next step when that one is over the bound, to where the p99 interpolated log-linearly in the achieved rate meets it (0 when no step is under the bound; a step that completed under half the round trips its schedule made due, or under %d, did not measure its load and has no say; a repetition with no such step has no knee); its median and CI are over the repetitions. The chart shows p99 (thick, with markers) and p50 (thin, dashed) against the achieved rate, per step the medians over the repetitions.",
		driver, max(spec.Probes, 1), spec.Probe, strings.Join(pct, ", "), spec.Samples, max(spec.Samples/100, 1), spec.MinStep, spec.MaxStep, boundUS, minStepRoundTrips) +
		repsNote(spec)
}

// repsNote says why a ramp runs more repetitions than the suite.
func repsNote(spec RampSpec) string {
	if spec.Reps <= 0 {
		return ""
	}
	return fmt.Sprintf(" %d repetitions, more than the suite's other scenarios: a knee follows the capacity its target gets in that repetition, which moved by 10-18 %% from one repetition to the next on this shared machine.", spec.Reps)
}

// rampScenarios: the messenger's 4 KiB ECHO (split: the client on one CPU,
// the server on the other, one fixed placement) and the proxy's 64 B
// ping-pong (pinned, as proxy-openloop-64B-pinned), which they measure at
// every load instead of one.
func (r *runner) rampScenarios(client string) []*scenarioDef {
	params := func(boundUS float64) map[string]string {
		spec := r.rampSpec()
		return map[string]string{"conns": "1", "depth": "1", "bound_us": fmt.Sprint(boundUS), "steps": fmt.Sprint(len(spec.Fractions)),
			"step_samples": fmt.Sprint(spec.Samples), "step_min": spec.MinStep.String(), "step_max": spec.MaxStep.String(), "probe": spec.Probe.String(), "probes": fmt.Sprint(max(spec.Probes, 1))}
	}
	knee := mKnee
	knee.Headline = !r.rampSpec().Coarse
	metrics := []result.MetricDef{knee, mKneeP99, mProbe, mKneeFrac, mClient}
	size := 4096
	mp := params(msgrRampBoundUS)
	mp["size"] = fmt.Sprint(size)
	msgr := &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:      "msgr-ramp-4KiB",
		Group:   "messenger",
		Title:   "Messenger ECHO 4KiB, latency against offered load (open loop, 10 % to 120 % of saturation), split",
		Split:   true,
		Params:  mp,
		Metrics: metrics,
		Anchors: []string{RawTCP},
		Note: rampNote(r.rampSpec(), client+" (--handshake-first)", msgrRampBoundUS) + fmt.Sprintf(" The bound is 2 ms, not 1: unpinned, the open-loop msgr-client's own p99 at light load was 0.5-0.9 ms with the kernel engines (msgr-openloop-4KiB). Split, not unpinned: left to the scheduler, the raw-tcp anchor's knee moved 2× between two quiet default runs (60,021 → 30,821 msg/s) as client and server landed on one CPU or two. %s: perf loadgen pingpong of %d bytes (the message's size on the wire) against the raw echo server, with the same steps.",
			RawTCP, size+msgrWireOverhead),
	}}
	msgr.targets = append(msgr.targets, target{name: RawTCP, kind: result.KindAnchor, driver: "perf loadgen pingpong --rate", setup: r.rawRig,
		load: r.rampLoad(msgrRampBoundUS, r.loadgenStep(func(g *rig) []string {
			return []string{"--addr", g.addr["echo"], "--size", fmt.Sprint(size + msgrWireOverhead)}
		}))})
	msgr.targets = append(msgr.targets, r.msgrClientTargets(client+" --rate", r.msgrServer(), r.rampLoad(msgrRampBoundUS, r.msgrStep(size)))...)

	pp := params(proxyRampBoundUS)
	pp["size"] = "64"
	proxy := &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:      "proxy-ramp-64B-pinned",
		Group:   "proxy",
		Title:   "Proxy ping-pong 64B, latency against offered load (open loop, 10 % to 120 % of saturation), pinned",
		Pinned:  true,
		Params:  pp,
		Metrics: metrics,
		Anchors: []string{Direct, HAProxy},
		Note:    rampNote(r.rampSpec(), "perf loadgen pingpong", proxyRampBoundUS) + " Pinned: client, proxy and backend share one CPU, so the saturation rate is the whole path's CPU per round trip.",
	}, targets: r.proxyTargets(r.rampLoad(proxyRampBoundUS, r.loadgenStep(func(g *rig) []string {
		return []string{"--addr", g.addr["echo"], "--size", "64"}
	})))}
	kp := params(kaRampBoundUS)
	ka := &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:      "msgr-keepalive-ramp-pinned",
		Group:   "messenger",
		Title:   "Messenger KEEPALIVE2, latency against offered load (open loop, 10 % to 120 % of saturation), pinned",
		Pinned:  true,
		Params:  kp,
		Metrics: metrics,
		Anchors: []string{RawTCP, CephMon},
		Note: rampNote(r.rampSpec(), "perf loadgen pingpong (msgr1 keepalive client)", kaRampBoundUS) +
			" The exchange ceph-mon serves alone, so the monitor is the product anchor; raw-tcp echoes the same 9-byte frames. Pinned: client and server share one CPU.",
	}}
	kaStep := func(kind string) stepFunc { return r.loadgenStep(func(g *rig) []string { return kaFlags(kind, g) }) }
	ka.targets = []target{
		{name: RawTCP, kind: result.KindAnchor, driver: "perf loadgen pingpong --rate (9-byte frames to raw echo)", setup: r.rawRig, load: r.rampLoad(kaRampBoundUS, kaStep("raw"))},
		{name: CephMon, kind: result.KindAnchor, driver: "perf loadgen pingpong --rate (msgr1 keepalive client)", setup: r.cephMonRig, load: r.rampLoad(kaRampBoundUS, kaStep("mon"))},
	}
	ka.targets = append(ka.targets, r.engineTargets("perf loadgen pingpong --rate (msgr1 keepalive client)", r.msgrServer(), r.rampLoad(kaRampBoundUS, kaStep("engine")))...)
	for _, d := range []*scenarioDef{msgr, proxy, ka} {
		d.reps = r.rampSpec().Reps
	}
	return []*scenarioDef{msgr, proxy, ka}
}
