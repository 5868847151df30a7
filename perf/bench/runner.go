package bench

import (
	"context"
	"fmt"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netmodels/netmodels/core/netsim"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/procstat"
	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

type runner struct {
	cfg     Config
	run     *result.Run
	engines []result.TargetInfo // available engines
	absent  map[string]string   // target -> reason it is absent
	certs   tlsCerts            // the TLS scenarios' certificates
	// where: the scenario being run is a headline one, so its Go
	// targets start with the measured-window protocol (where.go). The
	// scenarios run one after another, so one flag serves.
	where bool
	// net is the two-hosts topology the scenario being run crosses (nil:
	// one host); netAbsent, when set, says why it could not be built and
	// every cell is absent with it (twohosts.go).
	net       *netsim.Topology
	netAbsent string
	// hosts: the --hosts run's SSH connections, open from after the
	// start calibration to before the end one (sshhosts.go).
	hosts *hostsRun
}

// Run executes the suite and returns the filled run (also on ctx
// cancellation: what was measured so far, marked in Notes).
func Run(ctx context.Context, cfg Config, repo string) (*result.Run, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	run := &result.Run{Schema: result.Schema, ID: now.Format("2006-01-02T150405Z"), Suite: cfg.Suite.Name,
		Started: now, Machine: ReadMachine(repo), ClientEngine: cfg.ClientEngine,
		Method: result.Method{Reps: cfg.Suite.Reps, WarmupS: cfg.Suite.Warmup.Seconds(), DurationS: cfg.Suite.Duration.Seconds(),
			Confidence: 0.95, PinCPU: cfg.PinCPU}}
	if cfg.Baseline != nil {
		b := cfg.Baseline.Baseline
		run.Baseline = &b
	}
	r := &runner{cfg: cfg, run: run, absent: map[string]string{}}
	// Every listener the harness owns and every anchor binds one host for
	// all targets, so kernel-only and DPDK runs are set up alike.
	anchor.Host = r.host()
	run.Extra = map[string]string{"listen_host": r.host()}
	if cfg.DPDK != nil {
		run.Extra["dpdk_topology"] = "the whole run re-executed itself in a private network namespace (core/dpdknet): every bin/dpdk process over tap gets its own tap and 192.0.2.N/30 (kernel side .1 is its gateway), kernel listeners are on " + r.host() + " (on the namespace's lo, routed to from every tap)"
		if len(cfg.Net) > 0 {
			run.Extra["dpdk_topology"] = "two hosts (core/netsim): every bin/dpdk process over tap runs in the server namespace with its own tap and 192.0.2.N/30 (kernel side .1 is its gateway); the server side routes it to and from the link (client 198.51.100.9), so the load crosses the link once to the server side's kernel, which forwards it into the tap; kernel listeners (backends, /metrics) are on 198.51.100.10"
		}
		mtu := 1500
		if cfg.DPDK.MTU > 0 {
			mtu = cfg.DPDK.MTU
		}
		run.Extra["dpdk_mtu"] = fmt.Sprint(mtu)
	}
	if d := cfg.Suite.UserspaceDuration; d > 0 && d != cfg.Suite.Duration {
		run.Extra["dpdk_duration_s"] = fmt.Sprint(d.Seconds())
	}
	if d := cfg.Suite.UserspaceStreamDuration; d > 0 && d != cfg.Suite.Duration {
		run.Extra["dpdk_stream_duration_s"] = fmt.Sprint(d.Seconds())
	}
	if cfg.NoDPDK != "" {
		run.Extra["dpdk_topology"] = "none: " + cfg.NoDPDK
	}
	r.discover()
	if cfg.Hosts != nil && len(r.selected()) == 0 {
		return nil, fmt.Errorf("--hosts runs only %s; --only %s selects none of them", strings.Join(HostScenarios, ", "), strings.Join(cfg.Only, ","))
	}
	// The machine's state before and after: the same fixed work timed
	// twice, and the CPU steal in between (calib.go).
	run.Calibration = &result.MachineState{}
	st0, stErr := ReadCPUStat()
	run.Calibration.Start = r.calibrate(ctx)
	defs := r.selected()
	if cfg.Hosts != nil {
		if err := r.openHosts(ctx); err != nil {
			return nil, fmt.Errorf("--hosts: %w", err)
		}
		run.Extra["topology"] = fmt.Sprintf("hosts over SSH (perf run --hosts): load generators and msgr-client on the client host, servers and anchors on the server host, listening on %s; every latency is measured on the client host, every server CPU figure on the server host; the calibration ran on the harness's machine",
			cfg.Hosts.Server.Host)
		run.Extra["hosts"] = r.hosts.hostsText()
		run.Extra["listen_host"] = cfg.Hosts.Server.Host + " (the server host; the calibration: 127.0.0.1)"
	}
	plan, err := r.netPlan()
	if err != nil {
		return nil, err
	}
	oneHost := len(cfg.Net) == 0
	total := 0
	if oneHost {
		for _, d := range defs {
			total += len(d.targets) * (repsOf(d, cfg.Suite) + 1)
		}
	}
	if len(plan) > 0 {
		var names []string
		for _, st := range plan {
			names = append(names, st.profile.Name)
			for _, d := range st.defs {
				total += len(d.targets) * (repsOf(d, cfg.Suite) + 1)
			}
		}
		topo := fmt.Sprintf("%s (core/netsim): load generators and msgr-client in the client namespace (%s), servers, proxies, backends and anchors in the server namespace (%s); profiles %s; the calibration ran on the host's loopback",
			TopologyTwoHosts, netsim.ClientIP, netsim.ServerIP, strings.Join(names, ","))
		if oneHost {
			run.Extra["two_hosts"] = "after the one-host scenarios, " + topo
		} else {
			run.Extra["topology"] = topo
			run.Extra["listen_host"] = netsim.ServerIP.String() + " (the server namespace; the calibration: 127.0.0.1)"
		}
	}
	cfg.Progress.Total(total)
	if oneHost {
		for _, d := range defs {
			if ctx.Err() != nil {
				run.Notes = append(run.Notes, "interrupted: later scenarios were not run")
				break
			}
			if r.hosts != nil {
				d = onHosts(d)
			}
			r.runScenario(ctx, d)
		}
	}
	for _, st := range plan {
		if ctx.Err() != nil {
			break
		}
		r.runProfile(ctx, st.profile, st.defs, st.reps)
	}
	r.closeHosts()
	// Engines found unusable while running (unsupported here) are shown
	// as unavailable in the targets table too.
	for i := range run.Targets {
		if ti := &run.Targets[i]; ti.Available && r.absent[ti.Name] != "" {
			ti.Available, ti.Reason = false, r.absent[ti.Name]
		}
	}
	if ctx.Err() != nil {
		run.Calibration.End = &result.Calibration{At: time.Now().UTC(), CPU: cfg.PinCPU, LoadAvg1: LoadAvg(), Err: "interrupted: not measured"}
	} else {
		run.Calibration.End = r.calibrate(ctx)
	}
	if st1, err := ReadCPUStat(); err == nil && stErr == nil {
		run.Calibration.RunStealPct = StealPct(st0, st1)
	}
	run.Finished = time.Now().UTC()
	run.Machine.LoadEnd = LoadAvg()
	return run, nil
}

func (r *runner) discover() {
	infos := r.withBaseline(DiscoverEngines(r.cfg.BinDir, r.cfg.Engines))
	for i := range infos {
		if ti := &infos[i]; Userspace(ti.Name) && ti.Available && r.cfg.NoDPDK != "" {
			ti.Available, ti.Reason = false, r.cfg.NoDPDK
		}
		if ti := &infos[i]; baseTarget(ti.Name) == DPDK && len(r.cfg.Net) > 0 && ti.Tuning != nil {
			ti.Tuning["path"] = dpdkNetPath
		}
	}
	for _, ti := range infos {
		if ti.Available {
			r.engines = append(r.engines, ti)
		} else {
			r.absent[ti.Name] = ti.Reason
		}
	}
	// Absent engines still get cells, so the report shows the hole.
	for _, ti := range infos {
		if !ti.Available {
			r.engines = append(r.engines, ti)
		}
	}
	r.run.Targets = append(r.run.Targets, infos...)
	raw := result.TargetInfo{Name: RawTCP + " / " + Direct, Kind: result.KindAnchor, Available: true,
		Version: "perf rawtcp-server", Tuning: map[string]string{"model": "goroutine per connection (Go net)", "echo buffer": "64 KiB", "sink buffer": "256 KiB"}}
	r.run.Targets = append(r.run.Targets, raw)
	hap := result.TargetInfo{Name: HAProxy, Kind: result.KindAnchor, Tuning: map[string]string{
		"config": "the generated proxy config (see report), identical for every proxy but for its ports", "nbthread": "HAProxy default: one per visible CPU (1 when pinned)"}}
	if v, err := anchor.Version("haproxy", "-v"); err != nil {
		hap.Reason = "haproxy not installed: " + err.Error()
		r.absent[HAProxy] = hap.Reason
	} else {
		hap.Available, hap.Version = true, v
	}
	mon := result.TargetInfo{Name: CephMon, Kind: result.KindAnchor, Tuning: map[string]string{"config": "one monitor, auth none, msgr1 only, Pacific defaults"}}
	if v, err := anchor.Version("ceph-mon", "--version"); err != nil {
		mon.Reason = "ceph-mon not installed: " + err.Error()
		r.absent[CephMon] = mon.Reason
	} else {
		mon.Available, mon.Version = true, v
	}
	osd := result.TargetInfo{Name: CephOSD, Kind: result.KindAnchor, Tuning: map[string]string{
		"config": "msgr-rados only: memstore, msgr1, auth none, one pool of 8 PGs and size 1, in a one-mon cluster of its own"}}
	if v, err := anchor.Version("ceph-osd", "--version"); err != nil {
		// Not absent: msgr-rados then fails loudly, its cells saying why.
		osd.Reason = "ceph-osd not installed: " + err.Error()
	} else {
		osd.Available, osd.Version = true, v
	}
	r.run.Targets = append(r.run.Targets, hap, mon, osd)
	// Pinning needs no tool: children are pinned from their fork
	// (core/supervise Spec.CPUs), as taskset would pin them.
	r.run.Method.Taskset = r.cfg.PinCPU >= 0
	r.run.Method.ClientCPU = -1
	if r.run.Method.Taskset {
		r.run.Method.ClientCPU = otherCPU(r.cfg.PinCPU)
	}
	if _, err := exec.LookPath(r.clientBin()); err != nil {
		r.run.Notes = append(r.run.Notes, fmt.Sprintf("client engine %q is not built (%s): every cell driven by msgr-client fails", r.cfg.ClientEngine, r.clientBin()))
	}
}

func (r *runner) selected() []*scenarioDef {
	ids := r.cfg.Suite.Scenarios
	if len(r.cfg.Net) > 0 {
		ids = TwoHostScenarios
	}
	if r.cfg.Hosts != nil {
		ids = HostScenarios
	}
	return r.selectIDs(ids)
}

// selectIDs is the definitions whose IDs are in ids (all when ids is
// empty), narrowed by Only, in definition order.
func (r *runner) selectIDs(ids []string) []*scenarioDef {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []*scenarioDef
	for _, d := range r.definitions() {
		if (len(want) > 0 || d.listedOnly) && !want[d.res.ID] {
			continue
		}
		if len(r.cfg.Only) > 0 && !containsAny(d.res.ID, r.cfg.Only) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// repsOf is how many repetitions d runs in suite s.
func repsOf(d *scenarioDef, s Suite) int {
	if d.reps > 0 {
		return d.reps
	}
	return s.Reps
}

func (r *runner) runScenario(ctx context.Context, d *scenarioDef) {
	sc := d.res
	sc.Cells = nil
	sc.Headline = headlineScenarios[sc.ID]
	sc.Unit = unitName(d.unit)
	if d.reps > 0 {
		saved := r.cfg.Suite.Reps
		r.cfg.Suite.Reps = d.reps
		defer func() { r.cfg.Suite.Reps = saved }()
	}
	if slices.Contains(sc.Anchors, Direct) {
		sc.LoadOnly = []string{Direct}
	}
	r.where = sc.Headline
	defer func() { r.where = false }()
	r.run.Scenarios = append(r.run.Scenarios, &sc)
	pin, clientPin := -1, -1
	switch {
	case sc.Pinned:
		pin, clientPin = r.cfg.PinCPU, r.cfg.PinCPU
	case sc.Split && r.run.Method.Taskset && r.run.Method.ClientCPU >= 0:
		pin, clientPin = r.cfg.PinCPU, r.run.Method.ClientCPU
	case sc.Split:
		// The placement only steadies the numbers; the scenario means
		// the same without it.
		sc.Split = false
		sc.Title = strings.TrimSuffix(sc.Title, ", split") + ", unpinned"
		sc.Note += " Ran unpinned: no second CPU to split on, or pinning off."
	}
	var runs []*cellRun
	for _, t := range d.targets {
		cell := &result.Cell{Target: t.name, Kind: t.kind, Driver: t.driver}
		sc.Cells = append(sc.Cells, cell)
		switch {
		case r.netAbsent != "":
			cell.Status, cell.Reason = result.StatusAbsent, r.netAbsent
		case r.absent[t.name] != "":
			cell.Status, cell.Reason = result.StatusAbsent, r.absent[t.name]
		case r.absent[engineBase(t.name)] != "":
			cell.Status, cell.Reason = result.StatusAbsent, r.absent[engineBase(t.name)]
		case t.absent != "":
			cell.Status, cell.Reason = result.StatusAbsent, t.absent
		case sc.Pinned && !r.run.Method.Taskset:
			cell.Status, cell.Reason = result.StatusAbsent, "pinned scenario but pinning is off (--pin -1)"
		default:
			runs = append(runs, &cellRun{r: r, d: d, t: t, cell: cell, pin: pin, clientPin: clientPin, ctx: ctx, where: sc.Headline})
		}
	}
	if d.exclusive {
		r.runExclusive(ctx, runs)
	} else {
		r.runTurns(ctx, runs)
	}
	if d.teardown != nil {
		for _, err := range d.teardown() {
			r.run.Notes = append(r.run.Notes, fmt.Sprintf("%s: %v", sc.ID, err))
		}
	}
	for _, c := range sc.Cells {
		for i := len(c.Reps); i <= r.cfg.Suite.Reps; i++ {
			r.cfg.Progress.Step(sc.ID, c.Target) // keep the bar honest for skipped reps
		}
		if c.Status != result.StatusOK && c.Status != result.StatusAbsent {
			r.cfg.Progress.Logf("%s / %s: %s: %s", sc.ID, c.Target, c.Status, c.Reason)
		}
	}
}

// runTurns measures runs side by side. Every target is up at once and the
// repetitions take turns (rep 1 of each target, then rep 2, ...), so a
// noisy neighbour's burst or a slow drift of the machine hits all targets
// alike and the ratios stay steady. Idle servers and proxies cost nothing
// measurable meanwhile; each proxy has its own config file and ports
// (proxyRig), and a fresh-rig scenario restarts only the target whose
// turn it is.
func (r *runner) runTurns(ctx context.Context, runs []*cellRun) {
	for _, cr := range runs {
		cr.protect(cr.begin)
	}
	for rep := 0; rep < r.cfg.Suite.Reps && ctx.Err() == nil; rep++ {
		for _, cr := range runs {
			cr.protect(func(ctx context.Context) { cr.rep(ctx, rep) })
		}
	}
	for _, cr := range runs {
		cr.protect(func(context.Context) { cr.end() })
	}
}

// runExclusive measures the runs of a scenario whose targets share one
// address, so that only one can be up at a time. The targets marked first
// run whole, one after another (a real OSD, which must be killed
// before anyone else can take its address); then the others take
// turns as in runTurns, but each is started for its warm-up and for each
// repetition and stopped after it.
func (r *runner) runExclusive(ctx context.Context, runs []*cellRun) {
	var rest []*cellRun
	for _, cr := range runs {
		if cr.t.first {
			r.runTurns(ctx, []*cellRun{cr})
		} else {
			rest = append(rest, cr)
		}
	}
	for _, cr := range rest {
		cr.protect(func(ctx context.Context) { cr.begin(ctx); cr.stop() })
	}
	for rep := 0; rep < r.cfg.Suite.Reps && ctx.Err() == nil; rep++ {
		for _, cr := range rest {
			cr.protect(func(ctx context.Context) { cr.rep(ctx, rep); cr.stop() })
		}
	}
	for _, cr := range rest {
		cr.protect(func(context.Context) { cr.end() })
	}
}

// cellRun is one cell being measured: started, warmed up, repeated, ended.
type cellRun struct {
	r    *runner
	d    *scenarioDef
	t    target
	cell *result.Cell
	// pin places the server side (setup), clientPin the load (-1: the
	// scheduler decides).
	pin, clientPin int

	ctx    context.Context
	g      *rig
	failed bool
	// where: read the where-the-time-goes figures (where.go); profiled is
	// the profile file written by the profiled repetition, if any.
	where       bool
	profiled    string
	profiledRep int
	merged      *hdr.Histogram
	elapsed     time.Duration
}

// protect runs f with the cell's context and turns a panic into a failed
// cell: a harness bug, reported as such, while the run goes on (the report
// is still worth having) and `perf run` exits non-zero.
func (cr *cellRun) protect(f func(ctx context.Context)) {
	defer func() {
		if p := recover(); p != nil {
			msg := fmt.Sprintf("%s / %s: harness bug: %v\n%s", cr.d.res.ID, cr.t.name, p, debug.Stack())
			cr.r.run.HarnessErrors = append(cr.r.run.HarnessErrors, msg)
			cr.fail(fmt.Errorf("harness bug: %v", p))
		}
	}()
	t0 := time.Now()
	f(cr.ctx)
	cr.elapsed += time.Since(t0)
}

func (cr *cellRun) fail(err error) {
	if !cr.failed {
		cr.failed = true
		cr.cell.Status, cr.cell.Reason = result.StatusFailed, err.Error()
	}
	cr.stop()
}

func (cr *cellRun) stop() {
	if cr.g == nil {
		return
	}
	for _, err := range cr.g.stop() {
		cr.r.run.Notes = append(cr.r.run.Notes, fmt.Sprintf("%s / %s: %v", cr.d.res.ID, cr.t.name, err))
	}
	cr.g = nil
}

func (cr *cellRun) start() bool {
	g, err := cr.t.setup(cr.pin)
	if err != nil && unsupported(err) {
		// The binary exists but says it cannot run here (an engine built
		// without its library): absent, like an engine that is not built,
		// and not retried in later scenarios.
		cr.failed = true
		cr.cell.Status, cr.cell.Reason = result.StatusAbsent, err.Error()
		cr.r.absent[cr.t.name] = err.Error()
		return false
	}
	if err != nil {
		cr.fail(err)
		return false
	}
	cr.g = g
	cr.cell.Server = g.server
	return true
}

// begin starts the target and warms it up (not recorded).
func (cr *cellRun) begin(ctx context.Context) {
	if !cr.start() {
		return
	}
	if _, err := cr.t.load(ctx, cr.g, cr.clientPin, true); err != nil {
		cr.fail(fmt.Errorf("warm-up: %w", err))
		return
	}
	cr.freeze()
	cr.r.cfg.Progress.Step(cr.d.res.ID, cr.t.name)
}

// freeze stops a bin/dpdk target's server while the other targets take
// their turns, thaw resumes it for its own. Its poller is not free when
// idle (dpdk-memif backs off with nanosleep: 0.27 cores) and, pinned, it
// shares the CPU with the target being measured: with an idle memif
// server beside them rawepoll's pinned 4 KiB ping-pong p50 went from 24
// to 40 µs, gnet's from 24 to 28, raw-tcp's from 20 to 23. Kernel
// servers sleep in epoll_wait and are left alone.
func (cr *cellRun) freeze() {
	if cr.g != nil && cr.g.userspace {
		_ = cr.g.measured.Freeze()
	}
}

func (cr *cellRun) thaw() {
	if cr.g != nil && cr.g.userspace {
		_ = cr.g.measured.Thaw()
	}
}

// rep runs one repetition, reading the measured process's CPU and memory
// around it.
func (cr *cellRun) rep(ctx context.Context, rep int) {
	if cr.failed {
		return
	}
	d := cr.d
	// A fresh-rig scenario's or fresh target's previous server was
	// stopped after its turn.
	if cr.g == nil {
		if !cr.start() {
			return
		}
		if cr.t.fresh {
			if _, err := cr.t.load(ctx, cr.g, cr.clientPin, true); err != nil {
				cr.fail(fmt.Errorf("warm-up: %w", err))
				return
			}
		}
	}
	g := cr.g
	cr.thaw()
	defer cr.freeze()
	if d.freshRig || cr.t.fresh {
		// A fresh target: dpdk-memif's server CPU per message in
		// msgr-pingpong-4KiB-pinned stayed within ±3 % over one server's
		// repetitions but its level moved with the process (medians 96,
		// 109, 109 and 122 µs in four runs of the scenario alone; 86-96
		// against 104-119 in two default runs, a 28.7 % jump in the ratio
		// to raw TCP). The poller's first back-off sleep is measured
		// once per process (link.SleepFloor), one likely source.
		// Restart for the next repetition: stopped now, so it holds no
		// memory while the other targets take their turns.
		defer cr.stop()
	}
	if g.window {
		prof := ""
		if rep == profileRep(cr.r.cfg.Suite.Reps) {
			prof = cr.profilePath()
		}
		if err := g.openWindow(prof); err != nil {
			// The measurement stands without it; say why it is missing.
			cr.note("measured window off: %v", err)
			g.window = false
		} else if prof != "" {
			cr.profiled, cr.profiledRep = prof, rep
		}
	}
	var t0 procstat.Times
	var terr error
	if cr.where {
		t0, terr = procstat.Read(g.measured.PID())
	}
	u0, err := usageOf(g.measured)
	if err != nil {
		cr.fail(fmt.Errorf("%s exited: %s", g.measured.Name, g.measured.Stderr()))
		return
	}
	var peak int64
	var sampler sync.WaitGroup
	sctx, scancel := context.WithCancel(ctx)
	if d.sampleRSS {
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			tk := time.NewTicker(10 * time.Millisecond)
			defer tk.Stop()
			for {
				if u, err := usageOf(g.measured); err == nil {
					peak = max(peak, u.RSSBytes)
				}
				select {
				case <-sctx.Done():
					return
				case <-tk.C:
				}
			}
		}()
	}
	nc0, ncErr := cr.r.scrapeNetCounters(ctx, g)
	s, err := cr.t.load(ctx, g, cr.clientPin, false)
	scancel()
	sampler.Wait()
	u1, rerr := usageOf(g.measured)
	var times *procstat.Times
	var counters *windowCounters
	if cr.where && terr == nil {
		if t1, err := procstat.Read(g.measured.PID()); err == nil {
			d := t1.Sub(t0)
			times = &d
		}
	}
	if g.windowOpen {
		if c, err := g.closeWindow(); err != nil {
			cr.note("measured window, repetition %d: %v", rep+1, err)
		} else {
			counters = &c
		}
	}
	// A load that measures only part of the repetition (the idle
	// scenarios' setup) read its own.
	if s.times != nil && cr.where {
		times = s.times
	}
	if s.window != nil {
		counters = s.window
	}
	if err != nil {
		cr.fail(fmt.Errorf("repetition %d: %w", rep+1, err))
		return
	}
	if rerr != nil {
		cr.fail(fmt.Errorf("repetition %d: %s exited: %s", rep+1, g.measured.Name, g.measured.Stderr()))
		return
	}
	m := s.metrics
	cpu := supervise.CPUDelta(u0, u1)
	if s.serverCPU != nil {
		cpu = *s.serverCPU
	}
	if s.seconds > 0 {
		m["server_cores"] = cpu / s.seconds
	}
	m["server_peak_rss_mb"] = float64(u1.PeakBytes) / 1e6
	switch d.unit {
	case perMsg:
		if s.units > 0 {
			m["server_cpu_us_per_msg"] = cpu / s.units * 1e6
		}
	case perGB:
		if s.bytes > 0 {
			m["server_cpu_s_per_gb"] = cpu / (s.bytes / 1e9)
		}
	case perConn:
		if s.units > 0 {
			m["server_cpu_us_per_conn"] = cpu / s.units * 1e6
		}
	}
	if d.perCPU != "" && cpu > 0 {
		m[d.perCPU] = s.units / cpu
	}
	if d.sampleRSS && s.units > 0 {
		m["server_rss_kb_per_conn"] = float64(peak-u0.RSSBytes) / 1024 / s.units
	}
	addWhere(m, d.unit, s, times, counters)
	if nc0 != nil || ncErr != nil {
		nc1, err := cr.r.scrapeNetCounters(ctx, g)
		if err = firstErr(ncErr, err); err != nil {
			cr.note("messenger counters, repetition %d: %v", rep+1, err)
		} else {
			addNetCounters(m, nc0, nc1)
		}
	}
	cr.cell.Reps = append(cr.cell.Reps, result.Rep{Metrics: m})
	cr.addRamp(s.ramp)
	if s.hist != "" {
		if h, err := stats.DecodeHist(s.hist); err == nil {
			if cr.merged == nil {
				cr.merged = h
			} else {
				cr.merged.Merge(h)
			}
		}
	}
	if len(s.series) > 0 && len(cr.cell.Series) == 0 {
		for _, p := range s.series {
			cr.cell.Series = append(cr.cell.Series, result.SeriesPoint{T: p.t, Value: p.v, Limit: p.limit})
		}
	}
	cr.r.cfg.Progress.Step(d.res.ID, cr.t.name)
}

// end stops the target and summarizes the cell.
func (cr *cellRun) end() {
	profile := ""
	if cr.g != nil {
		profile = cr.g.profile
	}
	// Stopped first: a profiled proxy writes its profile as it exits.
	cr.stop()
	cr.cell.Seconds = cr.elapsed.Seconds()
	if cr.failed {
		return
	}
	if cr.merged != nil {
		cr.cell.Hist, _ = stats.EncodeHist(cr.merged)
	}
	cr.cell.Summarize(cr.r.run.Method.Confidence)
	if cr.cell.Ramp != nil {
		cr.cell.Ramp.Summarize(cr.r.run.Method.Confidence)
	}
	if profile != "" {
		cr.addProfile(profile)
	}
	if cr.profiled != "" {
		cr.classifyProfile(cr.profiled, cr.profiledRep)
	}
	cr.cell.Status = result.StatusOK
	if len(cr.cell.Reps) < cr.r.cfg.Suite.Reps {
		cr.cell.Status, cr.cell.Reason = result.StatusFailed, fmt.Sprintf("interrupted after %d of %d repetitions", len(cr.cell.Reps), cr.r.cfg.Suite.Reps)
	}
}

// unsupported recognises an engine that refuses to run on this machine
// (for example `dpdk: built without DPDK support`), as opposed to one that
// tried and broke.
func unsupported(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "built without") || strings.Contains(msg, "not supported on this")
}
