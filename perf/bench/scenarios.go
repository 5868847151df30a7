package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

// Anchor target names.
const (
	RawTCP  = "raw-tcp" // the harness's own echo/sink: the machine's floor
	Direct  = "direct"  // proxy scenarios: the same load with no proxy
	HAProxy = "haproxy"
	CephMon = "ceph-mon"
)

// msgrWireOverhead is what msgr1 adds to a message's data on the wire: tag
// (1) + header (53) + footer with sig (21). The raw-TCP floor of a messenger
// ping-pong echoes size+75 bytes.
const msgrWireOverhead = 75

// headlineScenarios are the scenarios whose engine/anchor ratios the
// acceptance tracks between runs: one per question a reader asks first.
var headlineScenarios = map[string]bool{
	"msgr-pingpong-4KiB-pinned":      true,
	"msgr-keepalive-pingpong-pinned": true,
	"msgr-keepalive-pipelined":       true,
	"proxy-pingpong-64B-pinned":      true,
	"proxy-stream-1-pinned":          true,
	"proxy-connrate":                 true,
	"proxy-idle":                     true,
	"tls-handshake-ecdsa":            true,
	"tls-stream-1-pinned":            true,
	"tls-idle":                       true,
}

// perUnit says what the measured process's CPU time is divided by.
type perUnit int

const (
	perMsg perUnit = iota
	perGB
	perConn
	perNone // idle: CPU per second only
)

// target is one cell's recipe.
type target struct {
	name, kind string
	driver     string
	setup      func(pin int) (*rig, error)
	load       func(ctx context.Context, g *rig, pin int, warm bool) (sample, error)
	// absent, when set, says why this target has no cell here (shown as
	// absent with the reason, never left out).
	absent string
	// first: in an exclusive scenario, this target runs whole (start,
	// warm-up, every repetition, stop) before the others start.
	first bool
	// fresh: the server is started and warmed up again for every
	// repetition, so that the median spans several instances. For a
	// target whose figures settle per process rather than per repetition
	// (dpdk-memif: cellRun.rep says why).
	fresh bool
}

type scenarioDef struct {
	res       result.Scenario
	unit      perUnit
	freshRig  bool // restart the server every repetition (RSS per connection)
	reps      int  // repetitions instead of the suite's, when more than zero (the ramps: RampSpec.Reps)
	sampleRSS bool // sample the measured process's RSS during each repetition
	// perCPU, when set, names a metric filled with units per CPU-second
	// of the measured process: the rate it would sustain on one busy
	// core, for a scenario whose client may be the limit (TLS handshakes:
	// the client verifies each signature, and costs more than the server).
	perCPU  string
	targets []target
	// exclusive: the targets share one address (a Ceph OSD's in the OSD
	// map), so at most one server holds it at a time: the first
	// targets run whole, then the others take turns repetition by
	// repetition, each started for its turn and stopped after it.
	exclusive bool
	// teardown, when set, ends what the targets shared (a Ceph cluster)
	// once every cell has ended.
	teardown func() []error
	// listedOnly: run only by a suite that lists the scenario, not by
	// one that runs every scenario (the default; cores.go).
	listedOnly bool
}

var (
	mP50  = result.MetricDef{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}
	mP99  = result.MetricDef{Name: "p99_us", Unit: "µs", Lower: true}
	mP999 = result.MetricDef{Name: "p999_us", Unit: "µs", Lower: true}
	mRate = result.MetricDef{Name: "rate", Unit: "msg/s", Headline: true}
	// mRateLat is the rate of a latency scenario: shown, not a ratio column.
	mRateLat = result.MetricDef{Name: "rate", Unit: "msg/s"}
	mMBs     = result.MetricDef{Name: "mb_per_s", Unit: "MB/s"}
	mCPUMsg  = result.MetricDef{Name: "server_cpu_us_per_msg", Unit: "CPU-µs/msg", Lower: true, Headline: true}
	mCPUGB   = result.MetricDef{Name: "server_cpu_s_per_gb", Unit: "CPU-s/GB", Lower: true, Headline: true}
	mCPUConn = result.MetricDef{Name: "server_cpu_us_per_conn", Unit: "CPU-µs/conn", Lower: true, Headline: true}
	mCores   = result.MetricDef{Name: "server_cores", Unit: "cores", Lower: true}
	mPeakRSS = result.MetricDef{Name: "server_peak_rss_mb", Unit: "MB", Lower: true}
	mClient  = result.MetricDef{Name: "client_cores", Unit: "cores"}
	mGbps    = result.MetricDef{Name: "gbps", Unit: "Gbit/s", Headline: true}
	mConnsS  = result.MetricDef{Name: "conns_per_s", Unit: "conn/s", Headline: true}
	mRSSConn = result.MetricDef{Name: "server_rss_kb_per_conn", Unit: "KiB/conn", Lower: true, Headline: true}
)

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func pinName(p bool) string {
	if p {
		return "pinned"
	}
	return "unpinned"
}

// engineTargets builds one target per engine with the given recipe, for a
// scenario whose client is a kernel process: dpdk-memif, which only its
// own DPDK client can reach, gets an absent cell saying so (memifWhy).
func (r *runner) engineTargets(driver string, setup func(engine string, pin int) (*rig, error),
	load func(ctx context.Context, g *rig, pin int, warm bool) (sample, error), memifWhy ...string) []target {
	why := memifNoKernelClient
	if len(memifWhy) > 0 {
		why = memifWhy[0]
	}
	var out []target
	for _, e := range r.engines {
		t := target{name: e.Name, kind: result.KindEngine, driver: driver,
			setup: func(pin int) (*rig, error) { return setup(e.Name, pin) }, load: load}
		if baseTarget(e.Name) == DPDKMemif {
			t.absent = why
		}
		out = append(out, t)
	}
	return out
}

// msgrClientTargets is engineTargets for the scenarios driven by
// msgr-client: there dpdk-memif runs, its client being bin/dpdk
// msgr-client on the other end of its server's memif port (rig.client).
func (r *runner) msgrClientTargets(driver string, setup func(engine string, pin int) (*rig, error),
	load func(ctx context.Context, g *rig, pin int, warm bool) (sample, error)) []target {
	out := r.engineTargets(driver, setup, load)
	for i := range out {
		if baseTarget(out[i].name) == DPDKMemif {
			out[i].absent, out[i].fresh = "", true
			out[i].driver = "bin/dpdk msgr-client over memif (a DPDK client, not the kernel client of the other rows)"
		}
	}
	return out
}

func (r *runner) msgrServer(extra ...string) func(string, int) (*rig, error) {
	return func(engine string, pin int) (*rig, error) { return r.msgrRig(engine, pin, extra...) }
}

// kaFlags are perf loadgen's flags for a KEEPALIVE2 exchange with g's
// server: 9-byte frames to the raw echo server ("raw"), a msgr1 client of
// a monitor ("mon": protocol 15) or of an engine's msgr-server (24).
func kaFlags(kind string, g *rig) []string {
	switch kind {
	case "raw":
		return []string{"--addr", g.addr["echo"], "--protocol", "ka-raw"}
	case "mon":
		return []string{"--addr", g.addr["msgr"], "--protocol", "ka", "--msgr-proto", "15"}
	default:
		return []string{"--addr", g.addr["msgr"], "--protocol", "ka", "--msgr-proto", "24"}
	}
}

// definitions returns every scenario; the suite picks among them.
func (r *runner) definitions() []*scenarioDef {
	var defs []*scenarioDef
	client := "bin/" + r.cfg.ClientEngine + " msgr-client"

	// Messenger ping-pong latency: one connection, depth 1.
	for _, v := range []struct {
		size   int
		pinned bool
	}{{0, true}, {4096, true}, {65536, true}, {1 << 20, true}, {0, false}, {4096, false}} {
		size := v.size
		d := &scenarioDef{unit: perMsg, res: result.Scenario{
			ID:      fmt.Sprintf("msgr-pingpong-%s-%s", sizeName(size), pinName(v.pinned)),
			Group:   "messenger",
			Title:   fmt.Sprintf("Messenger ping-pong, %s data, 1 connection, depth 1, %s", sizeName(size), pinName(v.pinned)),
			Pinned:  v.pinned,
			Params:  map[string]string{"size": fmt.Sprint(size), "conns": "1", "depth": "1"},
			Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mPeakRSS, mClient},
			Anchors: []string{RawTCP},
			Note: fmt.Sprintf("Engines: ECHO round trips driven by %s, closed loop. %s: the harness's "+
				"ping-pong of %d bytes (the message's size on the wire) against its raw echo server.", client, RawTCP, size+msgrWireOverhead),
		}}
		d.targets = append(d.targets, target{name: RawTCP, kind: result.KindAnchor, driver: "perf loadgen pingpong",
			setup: r.rawRig,
			load: func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
				s, res, err := r.runLoadgen(ctx, g, pin, warm, "pingpong", "--addr", g.addr["echo"], "--conns", "1", "--size", fmt.Sprint(size+msgrWireOverhead))
				s.metrics["rate"] = res.OpsPerS
				return s, err
			}})
		d.targets = append(d.targets, r.msgrClientTargets(client, r.msgrServer(), func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			s, _, err := r.msgrClient(ctx, pin, g, warm, 1, 1, size)
			return s, err
		})...)
		defs = append(defs, d)
	}

	// KEEPALIVE2 ping-pong: the one messenger exchange ceph-mon does alone.
	kaLoad := func(kind string, extra ...string) func(context.Context, *rig, int, bool) (sample, error) {
		return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			flags := kaFlags(kind, g)
			mode, rest := "pingpong", extra
			if len(rest) > 0 && rest[0] == "pipeline" {
				mode, rest = "ka-pipeline", rest[1:]
			}
			s, res, err := r.runLoadgen(ctx, g, pin, warm, mode, append(flags, rest...)...)
			s.metrics["rate"] = res.OpsPerS
			return s, err
		}
	}
	kaTargets := func(extra ...string) []target {
		ts := []target{
			{name: RawTCP, kind: result.KindAnchor, driver: "perf loadgen (9-byte frames to raw echo)", setup: r.rawRig, load: kaLoad("raw", extra...)},
			{name: CephMon, kind: result.KindAnchor, driver: "perf loadgen (msgr1 keepalive client)", setup: r.cephMonRig, load: kaLoad("mon", extra...)},
		}
		return append(ts, r.engineTargets("perf loadgen (msgr1 keepalive client)", r.msgrServer(), kaLoad("engine", extra...))...)
	}
	for _, pinned := range []bool{true, false} {
		defs = append(defs, &scenarioDef{unit: perMsg, targets: kaTargets(), res: result.Scenario{
			ID:      "msgr-keepalive-pingpong-" + pinName(pinned),
			Group:   "messenger",
			Title:   "Messenger KEEPALIVE2 ping-pong, closed loop, " + pinName(pinned),
			Pinned:  pinned,
			Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mPeakRSS, mClient},
			Anchors: []string{RawTCP, CephMon},
			Note:    "Every cell is driven by the harness's own msgr1 client (handshake, then KEEPALIVE2 → KEEPALIVE2_ACK); raw-tcp echoes the same 9-byte frames.",
		}})
	}
	defs = append(defs, r.msgr2Scenarios(client)...)
	defs = append(defs, &scenarioDef{unit: perMsg, targets: kaTargets("--rate", "2000"), res: result.Scenario{
		ID:      "msgr-keepalive-openloop-pinned",
		Group:   "messenger",
		Title:   "Messenger KEEPALIVE2, open loop at 2000/s, latency from the intended send time, pinned",
		Pinned:  true,
		Params:  map[string]string{"rate": "2000"},
		Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mClient},
		Anchors: []string{RawTCP, CephMon},
		Note: "Constant-rate schedule; a late reply delays the next send and that delay is charged to it (coordinated omission corrected, as wrk2). " +
			"The pacer ends each wait with nanosleep(2) at 1 ns timer slack (Go timers wake with ~1 ms granularity on these VMs); its residual oversleep is in every cell, raw-tcp included.",
	}})
	defs = append(defs, &scenarioDef{unit: perMsg, targets: kaTargets("pipeline", "--window", "4096", "--batch", "128"), res: result.Scenario{
		ID:    "msgr-keepalive-pipelined",
		Group: "messenger",
		Title: "Messenger KEEPALIVE2 pipelined rate (window 4096, 128 per write), split",
		// Split like the proxy capacity scenarios: unpinned, the frames
		// per read (and so the CPU per frame) followed the scheduler's
		// placement, two modes 15 % apart from one repetition to the next.
		Split:   true,
		Params:  map[string]string{"window": "4096", "batch": "128"},
		Metrics: []result.MetricDef{mRate, mCPUMsg, mCores, mPeakRSS, mClient},
		Anchors: []string{RawTCP, CephMon},
		Note:    "Acked frames per second, every ack checked in order (shared/peers/ceph-mon.md §5).",
	}})

	// Pipelined ECHO throughput.
	for _, v := range []struct{ conns, depth, size int }{
		{1, 16, 4096}, {16, 16, 4096}, {128, 16, 4096}, {16, 128, 4096}, {1, 16, 1 << 20}, {16, 16, 1 << 20},
	} {
		v := v
		defs = append(defs, &scenarioDef{unit: perMsg, res: result.Scenario{
			ID:      fmt.Sprintf("msgr-pipelined-%dx%d-%s", v.conns, v.depth, sizeName(v.size)),
			Group:   "messenger",
			Title:   fmt.Sprintf("Messenger pipelined ECHO, %d connections × depth %d, %s, unpinned", v.conns, v.depth, sizeName(v.size)),
			Params:  map[string]string{"conns": fmt.Sprint(v.conns), "depth": fmt.Sprint(v.depth), "size": fmt.Sprint(v.size)},
			Metrics: []result.MetricDef{mRate, mMBs, mP50, mP99, mCPUMsg, mCores, mPeakRSS, mClient},
			Note:    "Closed loop at max throughput, driven by " + client + ". No anchor: neither raw TCP nor ceph-mon speaks ECHO.",
		}, targets: r.msgrClientTargets(client, r.msgrServer(), func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			s, _, err := r.msgrClient(ctx, pin, g, warm, v.conns, v.depth, v.size)
			return s, err
		})})
	}
	defs = append(defs, &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:      "msgr-openloop-4KiB",
		Group:   "messenger",
		Title:   "Messenger ECHO at a constant 2000 msg/s, 4KiB, 1 connection, unpinned",
		Params:  map[string]string{"rate": "2000", "size": "4096"},
		Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mClient},
		Note: "Rate held by " + client + " --rate, which counts each RTT from the time the send was due (coordinated omission corrected, core/cli/loadgen.go). " +
			"It paces with core/sleep, the same precise wait as the harness's own pacer (nanosleep(2) at 1 ns timer slack ends each wait; Go timers wake about 1 ms late on these VMs), " +
			"so its residual oversleep is the same small one as in msgr-keepalive-openloop-pinned.",
	}, targets: r.msgrClientTargets(client, r.msgrServer(), func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		s, _, err := r.msgrClient(ctx, pin, g, warm, 1, 1, 4096, "--rate", "2000")
		return s, err
	})})

	defs = append(defs, r.rampScenarios(client)...)
	defs = append(defs, r.throttleScenario(client, time.Millisecond, "msgr-throttle"),
		r.throttleScenario(client, 250*time.Microsecond, "msgr-throttle-250us"))

	// Connection scale: N connections, one message each.
	n := r.cfg.Suite.ScaleConns
	defs = append(defs, &scenarioDef{unit: perConn, freshRig: true, sampleRSS: true, res: result.Scenario{
		ID:      "msgr-connscale",
		Group:   "messenger",
		Title:   fmt.Sprintf("Messenger connection scale: %d connections, one ECHO each", n),
		Params:  map[string]string{"conns": fmt.Sprint(n)},
		Metrics: []result.MetricDef{{Name: "handshakes_per_s", Unit: "conn/s", Headline: true}, mRSSConn, mCPUConn, mPeakRSS, mClient},
		Note:    "Server restarted every repetition; RSS per connection = (highest RSS sampled every 10 ms during the run − RSS before) / N.",
	}, targets: r.msgrClientTargets(client, r.msgrServer(), func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		count := n
		if warm {
			count = 1
		}
		s, out, err := r.msgrClient(ctx, pin, g, warm, count, 1, 0, "--count", fmt.Sprint(count))
		if err == nil && out.Seconds > 0 {
			s.metrics["handshakes_per_s"] = float64(count) / out.Seconds
			s.units = float64(count)
		}
		return s, err
	})})

	defs = append(defs, r.idleCPUScenario(), r.radosScenario())
	defs = append(defs, r.proxyScenarios()...)
	defs = append(defs, r.tlsScenarios()...)
	defs = append(defs, r.coresScenarios()...)
	defs = append(defs, r.connsScenarios()...)
	return defs
}

// idleCPUScenario: each msgr-server with no connection at all, its CPU
// over IdleWindow. The kernel engines sleep in epoll; bin/dpdk's poller
// decides its cost: adaptive (the default) blocks on the tap's rx
// interrupt, memif has none and backs off with nanosleep, spin busy-polls.
func (r *runner) idleCPUScenario() *scenarioDef {
	window := r.cfg.Suite.IdleWindow
	if window <= 0 {
		window = r.cfg.Suite.Duration
	}
	idle := func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		w := window
		if warm {
			w = r.cfg.Suite.Warmup
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return sample{metrics: map[string]float64{}}, ctx.Err()
		case <-time.After(w):
		}
		if g.measured.Exited() {
			return sample{metrics: map[string]float64{}}, fmt.Errorf("%s exited while idle: %s", g.measured.Name, g.measured.Stderr())
		}
		return sample{metrics: map[string]float64{}, seconds: time.Since(t0).Seconds()}, nil
	}
	ts := r.engineTargets("none (no connection)", r.msgrServer(), idle)
	for i := range ts {
		ts[i].absent = "" // a memif server without its peer idles too
	}
	// dpdk-spin right after dpdk (and dpdk-spin@LABEL after dpdk@LABEL).
	var withSpin []target
	for _, t := range ts {
		withSpin = append(withSpin, t)
		if baseTarget(t.name) == DPDK {
			name := DPDKSpin + strings.TrimPrefix(t.name, DPDK)
			withSpin = append(withSpin, target{name: name, kind: result.KindEngine, driver: t.driver, load: idle,
				setup: func(pin int) (*rig, error) { return r.msgrRig(name, pin) }})
		}
	}
	ts = withSpin
	return &scenarioDef{unit: perNone, targets: ts, res: result.Scenario{
		ID:      "msgr-idle-cpu",
		Group:   "messenger",
		Title:   fmt.Sprintf("Idle CPU: msgr-server with no connection, %v per repetition", window),
		Params:  map[string]string{"window": window.String()},
		Metrics: []result.MetricDef{{Name: "server_cores", Unit: "cores", Lower: true, Headline: true}, mPeakRSS},
		Note: "CPU of the server process while nothing connects to it. dpdk polls with --poll=adaptive (its default: spin 100 µs after the last frame, " +
			"none on a single CPU, then block on the tap's rx interrupt); dpdk-spin is the same server with --poll=spin (busy-polls its lcore for ever); " +
			"dpdk-memif's server has no peer here and memif has no rx interrupt, so adaptive backs off with nanosleep (doubling to 100 µs from 1 µs after a spin, from the thread's measured sleep floor on one CPU).",
	}}
}

// proxyTargets: direct (no proxy), haproxy, then each engine's proxy.
func (r *runner) proxyTargets(load func(ctx context.Context, g *rig, pin int, warm bool) (sample, error)) []target {
	ts := []target{
		{name: Direct, kind: result.KindAnchor, driver: "perf loadgen", setup: r.rawRig, load: load},
		{name: HAProxy, kind: result.KindAnchor, driver: "perf loadgen", setup: func(pin int) (*rig, error) { return r.proxyRig("haproxy", pin) }, load: load},
	}
	return append(ts, r.engineTargets("perf loadgen", func(e string, pin int) (*rig, error) { return r.proxyRig(e, pin) }, load, memifNoProxy)...)
}

func (r *runner) proxyScenarios() []*scenarioDef {
	var defs []*scenarioDef
	for _, v := range []struct {
		size   int
		pinned bool
	}{{64, true}, {16384, true}, {64, false}, {16384, false}} {
		size := v.size
		defs = append(defs, &scenarioDef{unit: perMsg, res: result.Scenario{
			ID:      fmt.Sprintf("proxy-pingpong-%s-%s", sizeName(size), pinName(v.pinned)),
			Group:   "proxy",
			Title:   fmt.Sprintf("Proxy ping-pong %s through the proxy vs direct, %s", sizeName(size), pinName(v.pinned)),
			Pinned:  v.pinned,
			Params:  map[string]string{"size": fmt.Sprint(size)},
			Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mPeakRSS, mClient},
			Anchors: []string{Direct, HAProxy},
			Note:    "Added latency = a proxy's p50 − direct's p50. The proxy's CPU per message counts one round trip.",
		}, targets: r.proxyTargets(func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			s, res, err := r.runLoadgen(ctx, g, pin, warm, "pingpong", "--addr", g.addr["echo"], "--conns", "1", "--size", fmt.Sprint(size))
			s.metrics["rate"] = res.OpsPerS
			return s, err
		})})
	}
	defs = append(defs, &scenarioDef{unit: perMsg, res: result.Scenario{
		ID:      "proxy-openloop-64B-pinned",
		Group:   "proxy",
		Title:   "Proxy ping-pong 64B at a constant 2000/s, latency from the intended send time, pinned",
		Pinned:  true,
		Params:  map[string]string{"size": "64", "rate": "2000"},
		Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mClient},
		Anchors: []string{Direct, HAProxy},
		Note:    "Open loop: a stall delays the following sends and is charged to them (coordinated omission corrected, as wrk2). The pacer's residual oversleep is in every cell, direct included.",
	}, targets: r.proxyTargets(func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		s, res, err := r.runLoadgen(ctx, g, pin, warm, "pingpong", "--addr", g.addr["echo"], "--conns", "1", "--size", "64", "--rate", "2000")
		s.metrics["rate"] = res.OpsPerS
		return s, err
	})})
	for _, v := range []struct {
		streams int
		pinned  bool
	}{{1, true}, {1, false}, {8, false}} {
		streams, id, title := v.streams, fmt.Sprintf("proxy-stream-%d", v.streams), fmt.Sprintf("Proxy bulk throughput, %d stream(s), unpinned", v.streams)
		note := "Bytes delivered to the sink: the client writes 256 KiB frames (an 8-byte length header each) until the window ends, then an end frame; " +
			"the window closes when the sink's count is back through the proxy, and the client then closes. Nothing depends on half-close (loadgen/streamproto.go)."
		if v.pinned {
			// The headline stream: client, proxy and sink share one CPU,
			// so the rate is the inverse of the whole path's CPU per
			// byte. Over two CPUs direct's loopback stream moves ±15 %
			// from one connection to the next, at any placement (split
			// too); on one CPU ±5 %.
			id += "-pinned"
			title = "Proxy bulk throughput, 1 stream, pinned: client, proxy and sink on one CPU (the path's cost per byte)"
			note += " On one CPU the rate is the inverse of the path's CPU per byte; the unpinned scenario below shows what two CPUs give, with direct spreading ±15 % between repetitions there."
		}
		defs = append(defs, &scenarioDef{unit: perGB, res: result.Scenario{
			ID:      id,
			Group:   "proxy",
			Title:   title,
			Pinned:  v.pinned,
			Params:  map[string]string{"streams": fmt.Sprint(streams), "write_size": "262144"},
			Metrics: []result.MetricDef{mGbps, mCPUGB, mCores, mPeakRSS, mClient},
			Anchors: []string{Direct, HAProxy},
			Note:    note,
		}, targets: r.proxyTargets(func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			s, res, err := r.runLoadgen(ctx, g, pin, warm, "stream", "--addr", g.addr["sink"], "--streams", fmt.Sprint(streams), "--bufsize", "262144")
			if res.Seconds > 0 {
				s.metrics["gbps"] = float64(res.Bytes) * 8 / res.Seconds / 1e9
			}
			return s, err
		})})
	}
	defs = append(defs, &scenarioDef{unit: perConn, res: result.Scenario{
		ID:      "proxy-connrate",
		Group:   "proxy",
		Title:   "Proxy new connections per second (8 loops: connect, 16 B each way, the server closes first), split",
		Split:   true,
		Params:  map[string]string{"loops": "8"},
		Metrics: []result.MetricDef{mConnsS, mCPUConn, mP50, mP99, mPeakRSS, mClient},
		Anchors: []string{Direct, HAProxy},
		Note: "Latency is per transaction, connect through close. The backend (rawtcp-server's txn listener) closes first, as an HTTP/1.0 server does, " +
			"so TIME_WAIT lands on listening ports and no client's or proxy's ephemeral ports fill up over the run (loadgen.ConnRate says why).",
	}, targets: r.proxyTargets(func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		s, res, err := r.runLoadgen(ctx, g, pin, warm, "connrate", "--addr", g.addr["txn"], "--loops", "8")
		s.metrics["conns_per_s"] = res.OpsPerS
		return s, err
	})})
	n := r.cfg.Suite.ScaleConns
	defs = append(defs, &scenarioDef{unit: perConn, freshRig: true, res: result.Scenario{
		ID:      "proxy-idle",
		Group:   "proxy",
		Title:   fmt.Sprintf("Proxy concurrency: %d idle sessions held, split", n),
		Split:   true,
		Params:  map[string]string{"sessions": fmt.Sprint(n)},
		Metrics: []result.MetricDef{mRSSConn, mCPUConn, {Name: "setup_conns_per_s", Unit: "conn/s"}, mPeakRSS},
		Anchors: []string{Direct, HAProxy},
		Note: "Proxy restarted every repetition; RSS per session = (RSS while all sessions are held − RSS before) / N; CPU per session over the same span (setup: accept, " +
			"backend connect, one 16 B echo; the teardown is not counted). For direct it is the raw server's cost per connection.",
	}, targets: r.proxyTargets(func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		count := n
		if warm {
			count = 1
		}
		return r.idleLoad(ctx, g, pin, count, "idle", g.addr["echo"])
	})})
	return defs
}
