// Package soak is `perf soak` (make soak): every engine for a share of
// DURATION, running at once
//
//   - the lossless messenger under injected socket failures: bin/<engine>
//     msgr-server and msgr-client, both with --inject-socket-failures,
//     the client sending closed-loop for the engine's share and checking
//     every reply exactly once and in order (its exit status and JSON
//     summary; the server's /metrics count the re-accepts);
//   - the proxy relaying across backend restarts: bin/<engine> proxy in
//     front of a `perf rawtcp-server` echo backend that is SIGKILLed by
//     PID and started again on the same port a few times, while relay
//     workers in this process keep sessions going and check every byte
//     that comes back;
//
// sampling every engine process's RSS, descriptors and goroutines once a
// second (sample.go), and failing when one grows steadily (growth.go).
// Everything it starts goes through core/supervise and is stopped by PID.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/core/promscrape"
	"github.com/netmodels/netmodels/core/supervise"
)

// DPDK is the engine whose binary needs a tap slot (core/dpdknet).
const DPDK = "dpdk"

// The soak's fixed parameters (documented in perf/README.md, "Soak").
const (
	// TargetMessages is the messages each engine must exchange in a
	// 10-minute soak; shorter runs scale it by DURATION / 10 min.
	TargetMessages = 1_000_000
	targetDuration = 10 * time.Minute
	// Grace bounds each engine beyond its share: the client's drain
	// (its own --timeout ends a stall after clientTimeout), the stops
	// (SIGTERM, then SIGKILL after supervise.DefaultGrace). A run takes
	// at most DURATION + Grace × engines.
	Grace         = 30 * time.Second
	clientTimeout = 15 * time.Second
	// InjectEvery: both messenger sides fail one socket operation in this
	// many (msgr-inject-100k uses 50 with 64 KiB messages; with smaller
	// ones a failure per 100 operations reconnects several times a second).
	InjectEvery = 100
	msgrConns   = 2
	msgrDepth   = 16
	msgrSize    = "0-4096"
	// Restarts is how many times the proxy's backend is killed and started
	// again per engine, evenly spread; each time it stays down backendDown.
	Restarts    = 3
	backendDown = time.Second
)

// Config is one soak run.
type Config struct {
	BinDir   string        // bin/<engine>
	Engines  []string      // in order
	Duration time.Duration // each engine's soak; they run one after another
	Self     string        // the perf binary (for `perf rawtcp-server`)
	// Host is where kernel listeners bind and what engines dial to reach
	// them: 127.0.0.1, or dpdknet.HostIP inside the DPDK topology.
	Host string
	// Slots gives every bin/dpdk process its tap; nil: no dpdk in this run.
	Slots *dpdknet.Pool
	Log   io.Writer
}

// Target is the message count an engine's share must reach.
func (c Config) Target() int64 {
	return int64(math.Ceil(TargetMessages * c.Duration.Seconds() / targetDuration.Seconds()))
}

// Share is how long each engine soaks: the whole Duration. (It was
// Duration split across the engines; at 2 minutes dpdk's 3.9k msg/s over
// taps could not reach the 1,000,000 messages issue 21 asks of every
// engine, and a soak is about time under load per engine.)
func (c Config) Share() time.Duration {
	return c.Duration
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "soak: "+format+"\n", args...)
	}
}

// Result is a whole run.
type Result struct {
	Started  time.Time      `json:"started"`
	Duration string         `json:"duration"`
	Share    string         `json:"share"`
	Target   int64          `json:"target_messages"`
	Engines  []EngineResult `json:"engines"`
}

// Failed lists every failure of the run.
func (r Result) Failed() []string {
	var out []string
	for _, e := range r.Engines {
		for _, f := range e.Failures {
			out = append(out, e.Engine+": "+f)
		}
	}
	return out
}

// EngineResult is one engine's soak.
type EngineResult struct {
	Engine   string       `json:"engine"`
	Seconds  float64      `json:"seconds"`
	Msgr     MsgrResult   `json:"msgr"`
	Proxy    ProxyResult  `json:"proxy"`
	Procs    []ProcResult `json:"processes"`
	Failures []string     `json:"failures"`
	Notes    []string     `json:"notes"`
	watched  []*Watched   // for the CSV and the chart
	restarts []float64    // seconds at which the backend was killed
}

// MsgrResult is the messenger half.
type MsgrResult struct {
	Target   int64   `json:"target"`
	Sent     int64   `json:"sent"`
	Received int64   `json:"received"`
	Errors   int64   `json:"errors"`
	Exit     string  `json:"exit"` // msgr-client's exit
	Exact    bool    `json:"exactly_once_in_order"`
	Reached  bool    `json:"target_reached"`
	MsgsPerS float64 `json:"msgs_per_s"`
	// From msgr-server's /metrics at the end.
	Accepts    float64 `json:"accepts"`
	Reconnects float64 `json:"reconnects"` // accepts beyond the first of each client connection
	Injected   float64 `json:"server_injected_failures"`
	Duplicates float64 `json:"duplicates_dropped"`
	Resent     float64 `json:"resent"`
}

// ProcResult is one process's series, summed up.
type ProcResult struct {
	Role       string    `json:"role"`
	PID        int       `json:"pid"`
	Source     string    `json:"goroutine_source"`
	Samples    int       `json:"samples"`
	Misses     int       `json:"misses"`
	PeakRSS    int64     `json:"peak_rss_bytes"`
	RSSStart   int64     `json:"rss_start_bytes"`
	RSSEnd     int64     `json:"rss_end_bytes"`
	FDsStart   int       `json:"fds_start"`
	FDsEnd     int       `json:"fds_end"`
	GStart     int       `json:"goroutines_start"`
	GEnd       int       `json:"goroutines_end"`
	Verdicts   []Verdict `json:"verdicts"`
	MissReason string    `json:"miss_reason,omitempty"`
}

// Run soaks every engine in turn and returns what it saw; a failure is
// in the result (Result.Failed), err only when the run could not go on.
func Run(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Started: time.Now().UTC(), Duration: cfg.Duration.String(), Share: cfg.Share().String(), Target: cfg.Target()}
	for _, e := range cfg.Engines {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		cfg.logf("%s: %v (messenger and proxy at once)", e, cfg.Share())
		er := runEngine(ctx, cfg, e)
		for _, f := range er.Failures {
			cfg.logf("%s: FAIL %s", e, f)
		}
		res.Engines = append(res.Engines, er)
	}
	return res, nil
}

// runEngine is one engine's share: both halves at once, sampled.
func runEngine(parent context.Context, cfg Config, engine string) (er EngineResult) {
	er.Engine = engine
	share := cfg.Share()
	ctx, cancel := context.WithTimeout(parent, share+Grace)
	defer cancel()
	start := time.Now()
	defer func() { er.Seconds = time.Since(start).Seconds() }()
	sampler := StartSampler(ctx, start)
	var stops []func() // in reverse order at the end
	defer func() {
		sampler.Stop()
		er.watched = sampler.watched()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		er.summarize()
	}()
	fail := func(format string, args ...any) { er.Failures = append(er.Failures, fmt.Sprintf(format, args...)) }

	// The messenger pair.
	srv, err := startEngine(ctx, cfg, engine, "msgr-server", &stops, fail,
		"msgr-server", "--listen", net.JoinHostPort(listenHost(cfg, engine), "0"), "--metrics", "127.0.0.1:0",
		"--inject-socket-failures", strconv.Itoa(InjectEvery), "--initial-backoff", "5ms", "--max-backoff", "100ms")
	if err != nil {
		fail("msgr-server: %v", err)
		return
	}
	srvMetrics := "http://" + srv.Ready[len(srv.Ready)-1] + "/metrics"
	sampler.Add(NewWatched("msgr-server", srv, srvMetrics))
	client, err := startEngine(ctx, cfg, engine, "msgr-client", &stops, fail,
		"msgr-client", "--connect", srv.Ready[0], "--conns", strconv.Itoa(msgrConns), "--depth", strconv.Itoa(msgrDepth),
		"--size", msgrSize, "--duration", share.String(), "--timeout", clientTimeout.String(),
		"--inject-socket-failures", strconv.Itoa(InjectEvery), "--initial-backoff", "5ms", "--max-backoff", "100ms")
	if err != nil {
		fail("msgr-client: %v", err)
		return
	}
	sampler.Add(NewWatched("msgr-client", client, ""))

	// The proxy and its backend.
	px, err := startProxyRig(ctx, cfg, engine, &stops, fail)
	if err != nil {
		fail("proxy: %v", err)
	} else {
		sampler.Add(NewWatched("proxy", px.proxy, px.metrics))
	}

	// Both halves run for the share; the client ends by itself.
	var relayDone chan ProxyResult
	if px != nil {
		relayDone = make(chan ProxyResult, 1)
		go func() { relayDone <- px.run(ctx, cfg, share, start, &er.restarts) }()
	}
	er.Msgr = waitClient(ctx, client, cfg.Target(), fail)
	if relayDone != nil {
		er.Proxy = <-relayDone
		for _, f := range er.Proxy.failures {
			fail("proxy: %s", f)
		}
	}
	sampler.Stop()
	// The server's own count of what the failures cost.
	mctx, mcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if ms, err := promscrape.Get(mctx, srvMetrics); err == nil {
		v := promscrape.Values(ms)
		er.Msgr.Accepts = v["msgr_accepted_connections_total"]
		er.Msgr.Reconnects = max(er.Msgr.Accepts-msgrConns, 0)
		er.Msgr.Injected = v["msgr_injected_failures_total"]
		er.Msgr.Duplicates = v["msgr_duplicates_dropped_total"]
		er.Msgr.Resent = v["msgr_resent_messages_total"]
		if er.Msgr.Reconnects == 0 {
			fail("msgr: the server never re-accepted a client: no socket failure was injected")
		}
	} else {
		fail("msgr-server metrics at the end: %v", err)
	}
	mcancel()
	if !er.Msgr.Reached {
		er.Notes = append(er.Notes, fmt.Sprintf("messenger: %d messages, below the target of %d for a %v share (this engine's speed under injected failures on this machine)",
			er.Msgr.Received, er.Msgr.Target, share))
	}
	return
}

// startEngine starts bin/<engine> with args (and a tap slot for dpdk) and
// queues its stop; a stop that finds the process gone is a failure.
func startEngine(ctx context.Context, cfg Config, engine, role string, stops *[]func(), fail func(string, ...any), args ...string) (*supervise.Proc, error) {
	var slot *dpdknet.Slot
	if engine == DPDK {
		if cfg.Slots == nil {
			return nil, errors.New("dpdk needs the DPDK topology (run as root)")
		}
		var err error
		if slot, err = cfg.Slots.Acquire(ctx); err != nil {
			return nil, err
		}
		args = append(args, slot.Flags()...)
	}
	spec := supervise.Spec{Name: engine + " " + role, Path: filepath.Join(cfg.BinDir, engine), Args: args, Capture: 1 << 20}
	if role != "msgr-client" { // the client prints only its JSON summary, at the end
		spec.ReadyWord, spec.ReadyTimeout = "READY", 30*time.Second
	}
	p, err := supervise.Start(spec)
	if err != nil {
		slot.Release()
		return nil, err
	}
	*stops = append(*stops, func() {
		defer slot.Release()
		if role == "msgr-client" {
			// It ends by itself; waitClient judged its exit.
			if !p.Exited() {
				_ = p.Stop()
			}
			return
		}
		if err := p.Stop(); err != nil {
			fail("%s: %v", role, err)
		}
	})
	return p, nil
}

// listenHost is what an engine's own listener binds: its stack's address
// for bin/dpdk (which reads 127.0.0.1 as "my address"), else cfg.Host.
func listenHost(cfg Config, engine string) string {
	if engine == DPDK || cfg.Host == "" {
		return "127.0.0.1"
	}
	return cfg.Host
}

// waitClient waits for msgr-client's end (the share, its drain) and
// reads its summary: exactly once and in order is its exit status 0 with
// received = sent and no error (core/cli checks every reply's tid,
// sequence and bytes).
func waitClient(ctx context.Context, client *supervise.Proc, target int64, fail func(string, ...any)) MsgrResult {
	m := MsgrResult{Target: target}
	if err := client.Wait(ctx); ctx.Err() != nil && !client.Exited() {
		_ = client.Stop()
		fail("msgr-client: still running after its share and the grace (%v); stopped", Grace)
		m.Exit = "stopped"
	} else {
		m.Exit = "exit 0"
		if err != nil {
			m.Exit = err.Error()
		}
	}
	line := lastLine(client.Stdout())
	sum, err := msgrjson.Decode([]byte(line))
	if err != nil {
		fail("msgr-client summary: %v (stdout %q; stderr %s)", err, clip(line, 200), supervise.Gist(client.Stderr()))
		return m
	}
	m.Sent, m.Received, m.Errors, m.MsgsPerS = sum.Sent, sum.Received, sum.Errors, sum.MsgsPerS
	m.Exact = client.ExitErr() == nil && client.Exited() && sum.Errors == 0 && sum.Sent == sum.Received
	m.Reached = m.Received >= target
	if !m.Exact {
		fail("msgr-client: %s, sent %d, received %d, errors %d: not every message answered exactly once in order (stderr %s)",
			m.Exit, m.Sent, m.Received, m.Errors, supervise.Gist(client.Stderr()))
	}
	return m
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// summarize sums up every watched series and judges it.
func (er *EngineResult) summarize() {
	for _, w := range er.watched {
		ss := w.Samples()
		misses, why := w.Misses()
		pr := ProcResult{Role: w.Role, PID: w.PID, Source: w.Source, Samples: len(ss), Misses: misses, MissReason: why}
		if misses > 0 {
			er.Notes = append(er.Notes, fmt.Sprintf("%s: %d samples missed (%s)", w.Role, misses, why))
		}
		if len(ss) > 0 {
			first, last := ss[0], ss[len(ss)-1]
			pr.RSSStart, pr.RSSEnd, pr.FDsStart, pr.FDsEnd, pr.GStart, pr.GEnd = first.RSS, last.RSS, first.FDs, last.FDs, first.Goroutines, last.Goroutines
			ts := make([]float64, len(ss))
			rss, fds, gs := make([]float64, len(ss)), make([]float64, len(ss)), make([]float64, len(ss))
			for i, s := range ss {
				ts[i], rss[i], fds[i], gs[i] = s.T, float64(s.RSS), float64(s.FDs), float64(s.Goroutines)
				pr.PeakRSS = max(pr.PeakRSS, s.RSS)
			}
			for _, j := range []struct {
				m  string
				vs []float64
			}{{MetricRSS, rss}, {MetricFDs, fds}, {MetricGoroutines, gs}} {
				v := Judge(j.m, ts, j.vs, Limits[j.m])
				pr.Verdicts = append(pr.Verdicts, v)
				name := j.m
				if j.m == MetricGoroutines && w.Source == SourceThreads {
					name = "threads"
				}
				if v.Growing {
					er.Failures = append(er.Failures, fmt.Sprintf("%s %s %s", w.Role, name, v.Reason))
				}
			}
		}
		er.Procs = append(er.Procs, pr)
	}
}
