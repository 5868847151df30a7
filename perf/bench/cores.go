package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/perf/result"
)

// The core sweep (#19 item 3): does a second core double a target's rate?
// One scenario per throughput workload holds every point of the sweep as
// a target of its own ("rawepoll/w1", "rawepoll/w2", "haproxy/t1", ...,
// result.CoreTarget), so the points take turns repetition by repetition
// like any scenario's targets and a drift of the machine hits them alike.
// Every point runs unpinned: the sweep is about how many cores a target
// may use, and the worker count is what bounds it.
//
// The workloads (why these two):
//   - cores-proxy-connrate: proxy-connrate unpinned. A new connection is
//     the proxies' most CPU-bound work in the suite (accept, connect to the
//     backend, two relays, two closes: no kernel copy dominates), the
//     connections spread over the workers, and HAProxy (nbthread N) is the
//     anchor; direct (no proxy) runs beside as the client's and backend's
//     own ceiling.
//   - cores-msgr-pipelined-16x16-4KiB: the messenger's throughput, 16
//     connections to spread over the workers. No anchor speaks ECHO.
//
// Left out: proxy-stream-8 (a loopback bulk relay is the kernel's copy,
// which the proxies hand to splice or do in the client's and sink's
// context: the worker count changes little there, and direct's own
// stream spreads ±15 % from one connection to the next unpinned, more
// than the effect), and ceph-mon with ms_async_op_threads: its
// throughput scenario, msgr-keepalive-pipelined, has one connection, and
// the async messenger serves a connection on one worker thread, so its
// sweep would be flat by construction.

// Core-sweep scenario IDs.
const (
	CoresConnrate = "cores-proxy-connrate"
	CoresMsgr     = "cores-msgr-pipelined-16x16-4KiB"
)

// CoreScenarios are the core-sweep scenarios, in the order they run.
var CoreScenarios = []string{CoresConnrate, CoresMsgr}

// NProc is the CPUs this process may run on: runtime.NumCPU, which on
// Linux counts the affinity mask at start-up (taskset narrows it). The
// sweep goes up to it, so the same command gives the whole curve on a
// bigger machine.
func NProc() int { return runtime.NumCPU() }

// CorePlan is the worker counts a sweep measures on nproc CPUs: every
// count 1 … nproc when full (the --scale suite), else 1 and 2 only (the
// default suite's "does a second core double the rate"), never more than
// nproc.
func CorePlan(nproc int, full bool) []int {
	top := max(nproc, 1)
	if !full {
		top = min(top, 2)
	}
	out := make([]int, 0, top)
	for n := 1; n <= top; n++ {
		out = append(out, n)
	}
	return out
}

// coreEnv is a Go engine's environment at n workers. --workers sets its
// loops, pollers or event loops, but not the Go runtime's own
// parallelism: impl-goroutine ignores --workers altogether (a loop per
// connection, Config.Workers unused), and every engine's scheduler would
// still run goroutines on all CPUs. GOMAXPROCS=n bounds that; rawepoll
// raises it to n+1 itself (loopkit.ReserveProcs: a P for the rest beside
// its n locked loops). At n = nproc this is the engines' default.
func coreEnv(n int) []string { return []string{fmt.Sprintf("GOMAXPROCS=%d", n)} }

func coreFlags(n int) []string { return []string{"--workers", fmt.Sprint(n)} }

// coreConnLoops is cores-proxy-connrate's client concurrency: proxy-connrate's
// 8 on this 2-core machine, 4 per CPU on a bigger one, so that the offered
// concurrency grows with the workers it must keep busy.
func coreConnLoops(nproc int) int { return max(8, 4*nproc) }

// coreMetrics is a sweep scenario's metric list: the rate, the rate per
// worker (rate ÷ N, as the report's efficiency uses it), the CPU per unit,
// the server's and the client's cores and the whole machine's busy share
// (to tell when the machine, not the target, was the limit).
func coreMetrics(rate result.MetricDef, cpu result.MetricDef) []result.MetricDef {
	perCore := result.MetricDef{Name: "rate_per_core", Unit: rate.Unit + " per core"}
	busy := result.MetricDef{Name: "machine_busy_pct", Unit: "% of the run's CPUs"}
	return []result.MetricDef{rate, perCore, cpu, mCores, mClient, busy, mP99, mPeakRSS}
}

// perCore wraps a load so that each repetition also records its rate
// metric divided by the point's worker count (and the machine's busy
// share, withBusy).
func perCore(metric string, n int, load func(context.Context, *rig, int, bool) (sample, error)) func(context.Context, *rig, int, bool) (sample, error) {
	load = withBusy(load)
	return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		s, err := load(ctx, g, pin, warm)
		if v, ok := s.metrics[metric]; ok && err == nil && !warm {
			s.metrics["rate_per_core"] = v / float64(n)
		}
		return s, err
	}
}

// withBusy wraps a load so that each repetition records how busy the
// machine's CPUs were meanwhile (machine_busy_pct, from /proc/stat's
// per-CPU lines for the CPUs of the harness's affinity mask, the ones
// the sweep may use: every process counts, the proxy's backend and
// other users' too), which tells a point the machine bounded from one
// its target did.
func withBusy(load func(context.Context, *rig, int, bool) (sample, error)) func(context.Context, *rig, int, bool) (sample, error) {
	return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		before, berr := readIdle()
		s, err := load(ctx, g, pin, warm)
		if err != nil || warm {
			return s, err
		}
		if after, aerr := readIdle(); berr == nil && aerr == nil && after.total > before.total {
			s.metrics["machine_busy_pct"] = 100 * (1 - float64(after.idle-before.idle)/float64(after.total-before.total))
		}
		return s, err
	}
}

// cpuIdle is idle time (idle + iowait) and total time summed over some
// CPUs of /proc/stat, in USER_HZ ticks.
type cpuIdle struct{ idle, total uint64 }

// readIdle sums the CPUs this process may run on.
func readIdle() (cpuIdle, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuIdle{}, fmt.Errorf("affinity: %w", err)
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuIdle{}, err
	}
	return parseIdle(string(b), set.IsSet)
}

// parseIdle sums the "cpuN" lines of a /proc/stat text whose N is in
// (user nice system idle iowait irq softirq steal; guest and guest_nice
// are inside user and nice).
func parseIdle(text string, in func(cpu int) bool) (cpuIdle, error) {
	var c cpuIdle
	found := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil || !in(cpu) {
			continue
		}
		if len(f) < 9 {
			return cpuIdle{}, fmt.Errorf("/proc/stat: %s line with %d fields, want 8 or more", f[0], len(f)-1)
		}
		for i, x := range f[1:9] {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return cpuIdle{}, fmt.Errorf("/proc/stat: %s field %d: %w", f[0], i+1, err)
			}
			c.total += v
			if i == 3 || i == 4 {
				c.idle += v
			}
		}
		found = true
	}
	if !found {
		return cpuIdle{}, fmt.Errorf("/proc/stat: no line for this process's CPUs")
	}
	return c, nil
}

// coresScenarios is the core sweep: each scenario's points are the
// suite's CorePlan on NProc CPUs.
func (r *runner) coresScenarios() []*scenarioDef {
	nproc := NProc()
	plan := CorePlan(nproc, r.cfg.Suite.CoresFull)
	workers := make([]string, len(plan))
	for i, n := range plan {
		workers[i] = fmt.Sprint(n)
	}
	params := func(extra ...string) map[string]string {
		p := map[string]string{"workers": strings.Join(workers, ","), "nproc": fmt.Sprint(nproc)}
		for i := 0; i+1 < len(extra); i += 2 {
			p[extra[i]] = extra[i+1]
		}
		return p
	}
	knob := fmt.Sprintf("Points: --workers N for every engine with GOMAXPROCS=N in its environment (impl-goroutine ignores --workers, "+
		"and the Go scheduler would otherwise spread every engine over all CPUs; rawepoll raises it to N+1 itself), N = %s on this machine's %d CPUs "+
		"(runtime.NumCPU: the affinity mask). Everything unpinned. Rate per core = rate ÷ N; efficiency = rate at N ÷ (N × rate at 1).",
		strings.Join(workers, ", "), nproc)

	loops := coreConnLoops(nproc)
	connLoad := func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		s, res, err := r.runLoadgen(ctx, g, pin, warm, "connrate", "--addr", g.addr["txn"], "--loops", fmt.Sprint(loops))
		s.metrics["conns_per_s"] = res.OpsPerS
		return s, err
	}
	conn := &scenarioDef{unit: perConn, res: result.Scenario{
		ID:      CoresConnrate,
		Group:   result.GroupCores,
		Title:   fmt.Sprintf("Core sweep: proxy new connections per second (%d loops), workers %s, unpinned", loops, strings.Join(workers, ", ")),
		Params:  params("loops", fmt.Sprint(loops)),
		Metrics: coreMetrics(mConnsS, mCPUConn),
		Anchors: []string{Direct},
		Note: "proxy-connrate's load (connect, 16 B each way, the backend closes first) with " + fmt.Sprint(loops) + " loops (4 per CPU, at least 8). " + knob +
			" HAProxy: nbthread N in the global section of its copy of the config (haproxy/tN). direct: no proxy, the client's and backend's own ceiling.",
	}}
	conn.targets = append(conn.targets, target{name: Direct, kind: result.KindAnchor, driver: "perf loadgen", setup: r.rawRig, load: withBusy(connLoad)})
	for _, n := range plan {
		n := n
		t := target{name: result.CoreTarget(HAProxy, n, true), kind: result.KindAnchor, driver: "perf loadgen",
			setup: retryOnce(func(int) (*rig, error) { return r.coresProxyRig(HAProxy, n) }), load: perCore("conns_per_s", n, connLoad),
			absent: r.absent[HAProxy]}
		conn.targets = append(conn.targets, t)
	}
	for _, e := range r.engines {
		for _, n := range plan {
			e, n := e.Name, n
			t := target{name: result.CoreTarget(e, n, false), kind: result.KindEngine, driver: "perf loadgen",
				setup: retryOnce(func(int) (*rig, error) { return r.coresProxyRig(e, n) }), load: perCore("conns_per_s", n, connLoad),
				absent: r.absent[e]}
			if baseTarget(e) == DPDKMemif && t.absent == "" {
				t.absent = memifNoProxy
			}
			conn.targets = append(conn.targets, t)
		}
	}

	client := "bin/" + r.cfg.ClientEngine + " msgr-client"
	msgr := &scenarioDef{unit: perMsg, listedOnly: true, res: result.Scenario{
		ID:      CoresMsgr,
		Group:   result.GroupCores,
		Title:   "Core sweep: messenger pipelined ECHO, 16 connections × depth 16, 4KiB, workers " + strings.Join(workers, ", ") + ", unpinned",
		Params:  params("conns", "16", "depth", "16", "size", "4096"),
		Metrics: coreMetrics(mRate, mCPUMsg),
		Note:    "msgr-pipelined-16x16-4KiB's load, driven by " + client + " (its own default workers). " + knob + " No anchor speaks ECHO.",
	}}
	for _, e := range r.engines {
		for _, n := range plan {
			e, n := e.Name, n
			t := target{name: result.CoreTarget(e, n, false), kind: result.KindEngine, driver: client, absent: r.absent[e],
				setup: func(pin int) (*rig, error) {
					g, err := r.msgrRigEnv(e, pin, coreEnv(n), coreFlags(n)...)
					if err == nil {
						g.server = strings.Join(coreEnv(n), " ") + " " + g.server
					}
					return g, err
				},
				load: perCore("rate", n, func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
					s, _, err := r.msgrClient(ctx, pin, g, warm, 16, 16, 4096)
					return s, err
				})}
			if baseTarget(e) == DPDKMemif {
				t.driver = "bin/dpdk msgr-client over memif (a DPDK client, not the kernel client of the other rows)"
			}
			msgr.targets = append(msgr.targets, t)
		}
	}
	return []*scenarioDef{conn, msgr}
}

// coresProxyRig is proxyRig at n workers, unpinned: the raw backend, then
// the proxy on its own copy of the generated config, HAProxy with
// nbthread n in its global section, an engine with --workers n and
// GOMAXPROCS=n.
func (r *runner) coresProxyRig(proxy string, n int) (*rig, error) {
	g := newRig()
	if _, err := r.startRaw(g, -1); err != nil {
		g.stop()
		return nil, err
	}
	front, back, err := r.proxyListens(g, proxy)
	if err != nil {
		g.stop()
		return nil, err
	}
	text := proxyConfig(front, back, 4*r.cfg.Suite.ScaleConns+1000)
	if proxy == HAProxy {
		text = withNbthread(text, n)
		if err := r.startProxy(g, proxy, -1, text, rawRoles, front, nil); err != nil {
			return nil, err
		}
		g.server = fmt.Sprintf("haproxy -db -f proxy.cfg (nbthread %d)", n)
		return g, nil
	}
	if err := r.startProxy(g, proxy, -1, text, rawRoles, front, coreEnv(n), coreFlags(n)...); err != nil {
		return nil, err
	}
	g.server = strings.Join(coreEnv(n), " ") + " " + g.server
	return g, nil
}

// withNbthread sets HAProxy's thread count in a generated config's
// global section (HAProxy's equivalent of --workers).
func withNbthread(text string, n int) string {
	return strings.Replace(text, "global\n", fmt.Sprintf("global\n    nbthread %d\n", n), 1)
}
