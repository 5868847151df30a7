package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/procstat"
	"github.com/netmodels/netmodels/perf/stats"
)

// sample is one repetition as a driver reports it, before the runner adds
// the measured process's CPU and memory.
type sample struct {
	metrics map[string]float64
	// units is the count the scenario's per-unit CPU divides by (messages,
	// connections); bytes for per-GB figures.
	units   float64
	bytes   float64
	seconds float64
	hist    string
	series  []seriesSample
	// serverCPU, when set, is the measured process's CPU seconds over the
	// part of the repetition that is the point (the load read it itself),
	// instead of over the whole repetition.
	serverCPU *float64
	// times and window, when set, are the measured process's user/system
	// split and window counters over that same part (where.go).
	times  *procstat.Times
	window *windowCounters
	// ramp, when set, is a latency-vs-load repetition's steps (ramp.go).
	ramp *rampRep
}

type seriesSample struct{ t, v, limit, peak float64 }

// jsonCapture bounds a load run's captured stdout: its last line is the
// JSON result with an encoded latency histogram (a few KiB); the first
// 2 KiB and the last 1 MiB are kept, so that line is always whole.
const jsonCapture = 1 << 20

// runJSON runs argv (pinned when pin >= 0) and decodes its stdout JSON into
// v. It returns the child's CPU seconds (rusage). A non-zero exit is an
// error, but v is still decoded when possible so the reason can be shown.
// In a two-hosts run it runs on the client side (r.clientSpec).
func (rn *runner) runJSON(ctx context.Context, pin int, argv []string, timeout time.Duration, v any) (cpu float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sp := supervise.Spec{Name: commandName(argv), Path: argv[0], Args: argv[1:], CPUs: anchor.CPUs(pin), Capture: jsonCapture}
	var r supervise.Result
	var runErr error
	if rn.hosts != nil {
		// On the client host; cpu is its shell's count of the program's.
		r, runErr = rn.runClient(ctx, sp)
	} else {
		r, runErr = supervise.Run(ctx, rn.clientSpec(sp))
	}
	cpu = r.CPU.Seconds()
	decErr := json.Unmarshal(lastJSONLine([]byte(r.Stdout)), v)
	switch {
	case ctx.Err() != nil:
		return cpu, fmt.Errorf("%s: timed out after %v", commandName(argv), timeout)
	case runErr != nil:
		return cpu, runErr
	case r.Code != 0:
		return cpu, fmt.Errorf("%s: exit status %d: %s", commandName(argv), r.Code, supervise.Gist(r.Stderr))
	case decErr != nil:
		return cpu, fmt.Errorf("%s: bad JSON output: %v", commandName(argv), decErr)
	}
	return cpu, nil
}

func lastJSONLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.HasPrefix(bytes.TrimSpace(lines[i]), []byte("{")) {
			return lines[i]
		}
	}
	return b
}

// loadgenArgs builds `perf loadgen KIND ...`.
func (r *runner) loadgenArgs(kind string, flags ...string) []string {
	return append([]string{r.cfg.Self, "loadgen", kind}, flags...)
}

// runLoadgen runs the harness's own load generator as a subprocess.
func (r *runner) runLoadgen(ctx context.Context, g *rig, pin int, warm bool, kind string, flags ...string) (sample, loadgen.Result, error) {
	d := r.repDuration(g, kind)
	w := r.cfg.Suite.Warmup
	if warm {
		d, w = r.cfg.Suite.Warmup, 0
	}
	flags = append(flags, "--duration", d.String(), "--warmup", w.String())
	var res loadgen.Result
	// The load generator bounds its own I/O (deadlines); this is the
	// backstop for a wedged process.
	cpu, err := r.runJSON(ctx, pin, r.loadgenArgs(kind, flags...), d+w+15*time.Second, &res)
	if err == nil && res.Err != "" {
		err = fmt.Errorf("%s", res.Err)
	}
	if err == nil && res.Ops == 0 && res.Bytes == 0 {
		// Nothing finished inside the window (everything stalled, or
		// failed in the warm-up, which is not counted): a zero is not a
		// measurement.
		err = fmt.Errorf("loadgen %s: nothing completed in %s", kind, d)
	}
	if err != nil {
		return sample{metrics: map[string]float64{}}, res, err
	}
	s := sample{metrics: map[string]float64{}, units: float64(res.Ops), bytes: float64(res.Bytes), seconds: res.Seconds, hist: res.Hist}
	if res.Seconds > 0 {
		s.metrics["client_cores"] = cpu / (res.Seconds + w.Seconds())
	}
	if res.Latency != nil {
		s.metrics["p50_us"] = res.Latency.P50
		s.metrics["p90_us"] = res.Latency.P90
		s.metrics["p99_us"] = res.Latency.P99
		s.metrics["p999_us"] = res.Latency.P999
		s.metrics["max_us"] = res.Latency.Max
	}
	return s, res, nil
}

// repDuration is one repetition's length for g's target driven by kind
// (a loadgen kind, or "msgr-client"): the suite's, or for bin/dpdk its
// shorter UserspaceDuration, or its longer UserspaceStreamDuration for a
// bulk stream (see Suite).
func (r *runner) repDuration(g *rig, kind string) time.Duration {
	if g == nil || !g.userspace {
		return r.cfg.Suite.Duration
	}
	if (kind == "stream" || kind == "tls-stream") && r.cfg.Suite.UserspaceStreamDuration > 0 {
		return r.cfg.Suite.UserspaceStreamDuration
	}
	if r.cfg.Suite.UserspaceDuration > 0 {
		return r.cfg.Suite.UserspaceDuration
	}
	return r.cfg.Suite.Duration
}

// msgrClient runs the fixed client engine's msgr-client against g's
// server (or the client g asks for: dpdk-memif's own bin/dpdk client).
func (r *runner) msgrClient(ctx context.Context, pin int, g *rig, warm bool, conns, depth, size int, extra ...string) (sample, msgrjson.Summary, error) {
	d := r.repDuration(g, "msgr-client")
	if warm {
		d = r.cfg.Suite.Warmup
	}
	bin, eflags := r.clientBin(), []string(nil)
	if g.client != nil {
		bin, eflags = g.client.bin, g.client.flags
	}
	argv := append([]string{bin, "msgr-client", "--connect", g.addr["msgr"],
		"--conns", fmt.Sprint(conns), "--depth", fmt.Sprint(depth), "--size", fmt.Sprint(size)}, extra...)
	argv = append(argv, eflags...)
	if !hasFlag(extra, "--count") {
		argv = append(argv, "--duration", d.String())
	}
	var out msgrjson.Summary
	cpu, err := r.runJSON(ctx, pin, argv, d+60*time.Second, &out)
	if err != nil {
		return sample{metrics: map[string]float64{}}, out, err
	}
	s, err := msgrSample(out, cpu)
	return s, out, err
}

// msgrSample turns msgr-client's summary and its CPU seconds into a
// sample; a run with an error or an unanswered message is no sample. Its
// round-trip histogram (same geometry as the harness's, checked by
// msgrjson.DecodeHist) becomes the sample's histogram, which the runner
// merges into the cell's as it does a loadgen's; a histogram that does not
// decode or does not hold one value per reply makes the repetition fail,
// since the report's percentiles come from it.
func msgrSample(out msgrjson.Summary, cpu float64) (sample, error) {
	if out.Errors > 0 || out.Received != out.Sent {
		return sample{metrics: map[string]float64{}}, fmt.Errorf("msgr-client: %d errors, %d of %d answered", out.Errors, out.Received, out.Sent)
	}
	h, err := msgrjson.DecodeHist(out.Hist)
	if err != nil {
		return sample{metrics: map[string]float64{}}, fmt.Errorf("msgr-client: %w", err)
	}
	if h.TotalCount() != out.Received {
		return sample{metrics: map[string]float64{}}, fmt.Errorf("msgr-client: hist holds %d round trips, %d received", h.TotalCount(), out.Received)
	}
	s := sample{metrics: map[string]float64{
		"rate": out.MsgsPerS, "p50_us": out.RTTUs.P50, "p90_us": out.RTTUs.P90, "p99_us": out.RTTUs.P99,
		"p999_us": out.RTTUs.P999, "max_us": out.RTTUs.Max,
	}, units: float64(out.Received), bytes: float64(out.Received) * out.Size.Mean(), seconds: out.Seconds}
	if h.TotalCount() > 0 {
		s.hist = out.Hist
	}
	if out.Seconds > 0 {
		s.metrics["client_cores"] = cpu / out.Seconds
		s.metrics["mb_per_s"] = out.BytesPerS / 1e6
	}
	return s, nil
}

// mergeHists merges encoded latency histograms (stats.EncodeHist) into
// one; "" when none holds a value.
func mergeHists(encoded []string) (string, error) {
	var all *hdr.Histogram
	for _, e := range encoded {
		if e == "" {
			continue
		}
		h, err := stats.DecodeHist(e)
		if err != nil {
			return "", err
		}
		if all == nil {
			all = h
		} else {
			all.Merge(h)
		}
	}
	if all == nil || all.TotalCount() == 0 {
		return "", nil
	}
	return stats.EncodeHist(all)
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f {
			return true
		}
	}
	return false
}

// commandName is "perf loadgen stream" or "goroutine msgr-client": enough
// to say which process failed without the full command line.
func commandName(argv []string) string {
	parts := []string{filepath.Base(argv[0])}
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") || len(parts) == 3 {
			break
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
