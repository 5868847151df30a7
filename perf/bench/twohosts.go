package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/netsim"
	"github.com/netmodels/netmodels/core/promscrape"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
)

// TopologyTwoHosts is `perf run --topology two-hosts`: core/netsim's
// client and server namespaces joined by a link under a profile (#20
// step 2). Every load generator and msgr-client runs in the client
// namespace; every server, proxy, backend and anchor in the server one,
// on the topology's server address. The harness itself (and so the
// calibration) stays in the host's namespace.
const TopologyTwoHosts = "two-hosts"

// TwoHostScenarios are what a two-hosts run measures per profile, the
// first slice of the one-host suite. The unpinned variants: the link
// emulator runs in the harness's own process, unpinned, and pinning
// client and server to one CPU would have them queue behind it.
// msgr-keepalive-pingpong-unpinned brings ceph-mon across the link.
var TwoHostScenarios = []string{"msgr-pingpong-4KiB-unpinned", "msgr-keepalive-pingpong-unpinned", "proxy-pingpong-64B-unpinned", "proxy-stream-1"}

// netSeed seeds every profile's emulator: the n-th frame each way meets
// the same fate in every run (spec/topology.md).
const netSeed = 1

// netCounters are the messenger server's counters read from its
// /metrics around each repetition in a two-hosts run (spec/messenger.md,
// "Metrics"), stored per repetition as their increase.
var netCounters = []string{"msgr_reconnects_total", "msgr_resent_messages_total", "msgr_duplicates_dropped_total", "msgr_faults_total"}

// ParseTopology reads --topology and --net: nil with neither (one host),
// the profiles named by net with --topology two-hosts (lan when net is
// empty). --net without --topology, another topology, an unknown or
// repeated profile are errors.
func ParseTopology(topology, nets string) ([]netsim.Profile, error) {
	switch {
	case topology == "" && nets == "":
		return nil, nil
	case topology == "":
		return nil, errors.New("--net needs --topology " + TopologyTwoHosts)
	case topology != TopologyTwoHosts:
		return nil, fmt.Errorf("--topology %q: the only topology is %s", topology, TopologyTwoHosts)
	}
	if nets == "" {
		nets = "lan"
	}
	ps, err := netsim.ParseProfiles(nets)
	if err != nil {
		return nil, fmt.Errorf("--net: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			return nil, fmt.Errorf("--net: %s given twice", p.Name)
		}
		seen[p.Name] = true
	}
	return ps, nil
}

// netStep is one profile of a run's two-hosts part and what crosses it.
type netStep struct {
	profile netsim.Profile
	defs    []*scenarioDef
	reps    int // 0: the suite's
}

// netPlan is the run's two-hosts part: every --net profile with the
// TwoHostScenarios, or else (one-host runs, not --hosts, not NoNet) the
// suite's own Net profiles with theirs. Steps that select nothing (Only)
// are left out.
func (r *runner) netPlan() ([]netStep, error) {
	var plan []netStep
	if len(r.cfg.Net) > 0 {
		defs := r.selected()
		for _, p := range r.cfg.Net {
			plan = append(plan, netStep{profile: p, defs: defs})
		}
		return plan, nil
	}
	if r.cfg.Hosts != nil || r.cfg.NoNet {
		return nil, nil
	}
	for _, nr := range r.cfg.Suite.Net {
		p, err := netsim.ParseProfile(nr.Profile)
		if err != nil {
			return nil, fmt.Errorf("suite %s: %w", r.cfg.Suite.Name, err)
		}
		if defs := r.selectIDs(nr.Scenarios); len(defs) > 0 {
			plan = append(plan, netStep{profile: p, defs: defs, reps: nr.Reps})
		}
	}
	return plan, nil
}

// serverSpec places sp on the server side of the current two-hosts
// topology; unchanged in a one-host run.
func (r *runner) serverSpec(sp supervise.Spec) supervise.Spec {
	if r.net == nil {
		return sp
	}
	return r.net.Server.Spec(sp)
}

// clientSpec places sp (a load generator, msgr-client) on the client side.
func (r *runner) clientSpec(sp supervise.Spec) supervise.Spec {
	if r.net == nil {
		return sp
	}
	return r.net.Client.Spec(sp)
}

// runProfile brings the two-hosts topology up under p, runs defs across
// it (IDs suffixed "@"+p.Name) and tears it down. When the topology
// cannot be built (not root) every cell is absent with the reason.
func (r *runner) runProfile(ctx context.Context, p netsim.Profile, defs []*scenarioDef, reps int) {
	topo, err := netsim.New(p, netSeed)
	if err != nil {
		r.netAbsent = fmt.Sprintf("two-hosts topology under %s: %v", p.Name, err)
	} else {
		r.net = topo
		anchor.Host, anchor.Listen, anchor.Place = r.host(), topo.Server.Listen, topo.Server.Spec
	}
	defer func() {
		r.net, r.netAbsent = nil, ""
		anchor.Host, anchor.Listen, anchor.Place = r.host(), net.Listen, nil
		if topo == nil {
			return
		}
		cs, sc := topo.Counters()
		r.run.Extra["net_"+p.Name] = fmt.Sprintf("%s; seed %d; client→server %+v; server→client %+v", p, netSeed, cs, sc)
		if err := topo.Close(); err != nil {
			r.run.Notes = append(r.run.Notes, fmt.Sprintf("two-hosts %s teardown: %v", p.Name, err))
		}
	}()
	defer r.pathWindows(p)() // restores the whole Suite, Reps too
	if reps > 0 {
		r.cfg.Suite.Reps = reps
	}
	for _, d := range defs {
		if ctx.Err() != nil {
			r.run.Notes = append(r.run.Notes, "interrupted: later scenarios were not run")
			return
		}
		r.runScenario(ctx, onNet(d, p.Name))
	}
}

// Over a long path a repetition must span many round trips: a
// ping-pong's percentiles need samples (0.5 s is 25 round trips of wan's
// 20 ms) and a bulk stream must be past TCP's slow start and its first
// loss recovery, or the repetition measures how its window opened. So
// each repetition lasts at least pathRTTs round trips of p, and its
// warm-up pathWarmRTTs (wan: 3 s and 0.5 s); short paths keep the
// suite's windows.
const pathRTTs, pathWarmRTTs = 150, 25

// pathWindows lengthens the suite's windows for p (see pathRTTs) and
// returns what puts them back.
func (r *runner) pathWindows(p netsim.Profile) (restore func()) {
	saved := r.cfg.Suite
	rtt := 2 * p.Delay
	longer := func(d *time.Duration, min time.Duration) {
		if *d > 0 && *d < min {
			*d = min
		}
	}
	longer(&r.cfg.Suite.Duration, pathRTTs*rtt)
	longer(&r.cfg.Suite.UserspaceDuration, pathRTTs*rtt)
	longer(&r.cfg.Suite.UserspaceStreamDuration, pathRTTs*rtt)
	if w := pathWarmRTTs * rtt; r.cfg.Suite.Warmup < w {
		r.cfg.Suite.Warmup = w
	}
	if r.cfg.Suite.Duration != saved.Duration || r.cfg.Suite.Warmup != saved.Warmup {
		r.run.Extra["net_"+p.Name+"_window"] = fmt.Sprintf("repetitions of %v after a %v warm-up (at least %d and %d round trips of %v)",
			r.cfg.Suite.Duration, r.cfg.Suite.Warmup, pathRTTs, pathWarmRTTs, rtt)
	}
	return func() { r.cfg.Suite = saved }
}

// onNet is d run over profile name: its ID suffixed. bin/dpdk over tap
// takes part: started on the server side like every server (serverSpec),
// its tap appears in the server namespace, which routes the tap slot's
// /30 to and from the link (spec/topology.md, "bin/dpdk on a side").
// dpdk-memif does not: its two processes are one memif port's two ends,
// sharing memory on one host, so no link can be put between them.
func onNet(d *scenarioDef, name string) *scenarioDef {
	c := *d
	c.res.ID += "@" + name
	c.res.Net = name
	c.res.Title += ", two hosts over " + name
	c.res.Headline = false
	c.targets = nil
	for _, t := range d.targets {
		if baseTarget(t.name) == DPDKMemif && t.absent == "" {
			t.absent = memifNoLink
		}
		c.targets = append(c.targets, t)
	}
	return &c
}

// dpdkNetPath is the dpdk target's data path in a two-hosts run (the
// targets table's "path").
const dpdkNetPath = "client-side load generator → link (the profile) → server side's kernel, forwarding → tap → DPDK net_tap → gVisor netstack → engine"

// Why dpdk-memif has no two-hosts cell.
const memifNoLink = "dpdk-memif's server and client are the two ends of one memif port, rings in memory they share on one host: no network link can be put between them (the dpdk row, over tap, is bin/dpdk across the link)"

// metricsFlags gives a messenger server a /metrics on the server side in
// a two-hosts run (the loss counters); none otherwise or when extra has
// one already.
func (r *runner) metricsFlags(extra []string) []string {
	if r.net == nil || hasFlag(extra, "--metrics") {
		return nil
	}
	port, err := anchor.FreePort()
	if err != nil {
		return nil
	}
	return []string{"--metrics", fmt.Sprintf("%s:%d", r.host(), port)}
}

// scrapeNetCounters reads netCounters from g's /metrics, reached from the
// server's namespace (Side.Dial): nil in a one-host run or without one.
func (r *runner) scrapeNetCounters(ctx context.Context, g *rig) (map[string]float64, error) {
	if r.net == nil || g == nil || g.metricsAddr == "" {
		return nil, nil
	}
	side := r.net.Server
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return side.Dial(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	samples, err := promscrape.GetWith(ctx, client, "http://"+g.metricsAddr+"/metrics")
	if err != nil {
		return nil, err
	}
	vals := promscrape.Values(samples)
	out := map[string]float64{}
	for _, name := range netCounters {
		if v, ok := vals[name]; ok {
			out[name] = v
		}
	}
	return out, nil
}

// addNetCounters stores the counters' increase over a repetition in m.
func addNetCounters(m, before, after map[string]float64) {
	for _, name := range netCounters {
		a, ok1 := after[name]
		b, ok0 := before[name]
		if ok0 && ok1 {
			m[strings.TrimPrefix(name, "msgr_")] = a - b
		}
	}
}
