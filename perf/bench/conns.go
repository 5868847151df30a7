package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/result"
)

// The connection sweep (#19 item 2): what do N concurrent connections
// cost a proxy? One scenario per N (proxy-conns-10k, ...; group
// result.GroupConns) holds the N connections open through every engine's
// proxy, HAProxy and direct (no proxy), and sends a fixed total of 2,000
// 64-byte requests per second spread over them round robin, so each
// connection sends rarely (at 10,000, once every 5 s) and what grows with
// N is what holding a connection costs. Measured: the server's RSS per
// connection, its CPU per connection-second (and per request) while the
// requests flow, the requests' p99, and the opening's rate (connect and a
// first echo through, at most connsParallel in flight).
//
// A cell opens its N connections once, in its warm-up, and every
// repetition is a phase of requests over the same connections: opening
// 10,000 through bin/dpdk takes seconds (about 2,000 a second), and
// reopening them per repetition would cost the default suite two minutes
// instead of under one. So the setup figures (rate, CPU per connection)
// are one sample per cell (n = 1 in the tables), the others five. The
// targets run one after another (exclusive, all "first"): the connections
// of targets not being measured would otherwise stay open meanwhile, at
// 100,000 four sockets each for seven targets.
//
// Limits: each proxy holds 2N descriptors (client side and backend side),
// so the harness raises RLIMIT_NOFILE for itself and, inherited through
// every spawn, for the processes it starts (core/cli does not raise its
// own; the Go runtime only lifts the soft limit to the hard one, and HAProxy
// raises its own from maxconn). An address pair holds at most the
// ephemeral port range's connections to one destination, so above
// perTuple connections the client binds several 127.0.0.x source addresses
// (loopback is 127.0.0.0/8), or, for bin/dpdk whose frontend is behind a
// tap (no loopback source can reach it), connects to several frontend
// ports of the proxy; the proxy's own backend connections go to several
// backend listeners (`balance roundrobin`), since the proxy picks its
// source address itself.

// GroupConns is re-exported for the suite definitions.
const GroupConns = result.GroupConns

// Connection sweep parameters.
const (
	connsRate     = 2000 // requests per second, all connections together
	connsSize     = 64   // request and reply bytes
	connsParallel = 64   // opens in flight
	connsSenders  = 32   // concurrent senders of a phase
	// connsDefaultN is the default suite's point.
	connsDefaultN = 10000
	// connsMemPerConn is the memory budget per connection the harness
	// checks against MemAvailable before a point: every process's share
	// (proxy up to ~25 KiB measured for bin/dpdk, four kernel sockets,
	// the backend's goroutine and the client's) with room to spare.
	connsMemPerConn = 64 << 10
)

// ConnsPoints are every N the sweep knows: 10k in the default suite, all
// four in --scale.
var ConnsPoints = []int{1000, 10000, 50000, 100000}

// ConnsID is the scenario ID of the point n: proxy-conns-10k.
func ConnsID(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("proxy-conns-%dk", n/1000)
	}
	return fmt.Sprintf("proxy-conns-%d", n)
}

// ConnsScenarios are the IDs of the given points.
func ConnsScenarios(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = ConnsID(n)
	}
	return out
}

// SuiteConns is the N of each sweep point the suite runs, in order: the
// IDs it lists, or, for a suite that runs every scenario, the default
// point (the others are listed only: --scale).
func SuiteConns(s Suite) []int {
	if len(s.Scenarios) == 0 {
		return []int{connsDefaultN}
	}
	var out []int
	for _, n := range ConnsPoints {
		for _, id := range s.Scenarios {
			if id == ConnsID(n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// ConnsPlan is how a point's N connections are laid out.
type ConnsPlan struct {
	N int
	// Backends are the raw backend's listeners, one `server` line each.
	Backends int
	// Fronts are the proxy's frontend listeners (bind lines).
	Fronts int
	// Sources are the client's local addresses (nil: the kernel's pick).
	Sources []string
	// NoFile is the RLIMIT_NOFILE every process needs: a proxy's two
	// sockets per connection and 1,024 to spare (listeners, epoll, pipes;
	// HAProxy sizes its own from maxconn, N + 200 in the sweep's config:
	// about 2N + 450).
	NoFile uint64
}

// PortsPerTuple is how many connections the plan puts on one (source
// address, destination) pair: 70 % of the ephemeral port range, the rest
// left to the machine's other connections and to TIME_WAIT.
func PortsPerTuple(lo, hi int) int { return max((hi-lo+1)*7/10, 1000) }

// PlanConns lays out n connections, perTuple per address pair: the
// backends as needed, and for a client on loopback as many 127.0.0.x
// sources (one frontend), else as many frontends (bin/dpdk: behind its
// tap, reached from the kernel's one address).
func PlanConns(n, perTuple int, loopback bool) ConnsPlan {
	k := max((n+perTuple-1)/max(perTuple, 1), 1)
	p := ConnsPlan{N: n, Backends: k, Fronts: 1, NoFile: connsNoFile(n)}
	switch {
	case k == 1:
	case loopback:
		for i := 1; i <= k; i++ {
			p.Sources = append(p.Sources, fmt.Sprintf("127.0.0.%d", i))
		}
	default:
		p.Fronts = k
	}
	return p
}

func connsNoFile(n int) uint64 { return uint64(2*n + 1024) }

// FitConns is the N a point asked for n connections runs at, under the
// hard descriptor limit maxv that only CAP_SYS_RESOURCE (privileged) may
// raise, up to nrOpen: n when it fits; else, when the largest multiple of
// 100 that fits is at least 90 % of n, that (a 2-core VM here has a hard
// limit of 20,000 and no CAP_SYS_RESOURCE, even as root: a proxy then holds
// at most 9,400, as the conformance suite's idle flood sizes itself from
// RLIMIT_NOFILE); else 0: the point cannot run here.
func FitConns(n int, maxv, nrOpen uint64, privileged bool) int {
	top := maxv
	if privileged {
		top = max(maxv, nrOpen)
	}
	if connsNoFile(n) <= top {
		return n
	}
	if top <= connsNoFile(0) {
		return 0
	}
	m := int((top-connsNoFile(0))/2) / 100 * 100
	if 10*m < 9*n {
		return 0
	}
	return m
}

// capSysResource says whether this process may raise a hard limit:
// CAP_SYS_RESOURCE (bit 24) in /proc/self/status's CapEff. Root without it
// (a container's bounding set) may not.
func capSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "CapEff:" {
			v, err := strconv.ParseUint(f[1], 16, 64)
			return err == nil && v&(1<<24) != 0
		}
	}
	return false
}

// NoFileRaise is the RLIMIT_NOFILE to set for need descriptors from (cur,
// max): unchanged when cur suffices, else both raised to at least need.
// need above nrOpen (fs.nr_open, the kernel's ceiling) cannot be had;
// raising max needs CAP_SYS_RESOURCE, which privileged says.
func NoFileRaise(cur, maxv, need, nrOpen uint64, privileged bool) (newCur, newMax uint64, err error) {
	switch {
	case need <= cur:
		return cur, maxv, nil
	case need > nrOpen:
		return 0, 0, fmt.Errorf("needs %d descriptors per process, above fs.nr_open %d", need, nrOpen)
	case need > maxv && !privileged:
		return 0, 0, fmt.Errorf("needs %d descriptors per process; RLIMIT_NOFILE's hard limit is %d and raising it needs CAP_SYS_RESOURCE, which this process lacks", need, maxv)
	}
	return need, max(maxv, need), nil
}

// raiseNoFile raises this process's RLIMIT_NOFILE to need (children
// inherit it: syscall.Setrlimit also stops os/exec from restoring the
// soft limit the process started with).
func raiseNoFile(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	cur, maxv, err := NoFileRaise(lim.Cur, lim.Max, need, readSysInt("/proc/sys/fs/nr_open", 1<<20), capSysResource())
	if err != nil || cur == lim.Cur && maxv == lim.Max {
		return err
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: cur, Max: maxv}); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE %d/%d to %d/%d: %w", lim.Cur, lim.Max, cur, maxv, err)
	}
	return nil
}

func readSysInt(path string, def uint64) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	v, err := strconv.ParseUint(strings.Fields(string(b) + " x")[0], 10, 64)
	if err != nil {
		return def
	}
	return v
}

// portRange is net.ipv4.ip_local_port_range (Linux's default when
// unreadable).
func portRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		l, e1 := strconv.Atoi(f[0])
		h, e2 := strconv.Atoi(f[1])
		if e1 == nil && e2 == nil && h > l {
			return l, h
		}
	}
	return 32768, 60999
}

// memAvailable is /proc/meminfo's MemAvailable in bytes (0: unknown).
func memAvailable() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v << 10
		}
	}
	return 0
}

// ConnsLimits says what bounds a point on this machine, for the report.
func ConnsLimits(ns []int) string {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lo, hi := portRange()
	top := 0
	for _, n := range ns {
		top = max(top, n)
	}
	return fmt.Sprintf("RLIMIT_NOFILE of the harness at the sweep's start %d soft / %d hard, CAP_SYS_RESOURCE %s (raised per point to 2N+1,024 for itself and every process it starts, inherited through their spawn; a hard limit only with CAP_SYS_RESOURCE); "+
		"fs.nr_open %d; ephemeral ports %d-%d, %d connections per (source, destination) pair used; net.core.somaxconn %d (opens in flight: %d); "+
		"net.ipv4.tcp_max_tw_buckets %d; MemAvailable %.1f GiB (a point needs about %d KiB per connection, checked before it runs: %d connections %.1f GiB)",
		lim.Cur, lim.Max, map[bool]string{true: "held", false: "not held (the hard limit cannot be raised)"}[capSysResource()], readSysInt("/proc/sys/fs/nr_open", 0), lo, hi, PortsPerTuple(lo, hi), readSysInt("/proc/sys/net/core/somaxconn", 0), connsParallel,
		readSysInt("/proc/sys/net/ipv4/tcp_max_tw_buckets", 0), float64(memAvailable())/(1<<30), connsMemPerConn>>10, top, float64(top)*connsMemPerConn/(1<<30))
}

// connsAbsent says why a point cannot run here ("" when it can).
func connsAbsent(p ConnsPlan) string {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "RLIMIT_NOFILE unreadable: " + err.Error()
	}
	if _, _, err := NoFileRaise(lim.Cur, lim.Max, p.NoFile, readSysInt("/proc/sys/fs/nr_open", 1<<20), capSysResource()); err != nil {
		return fmt.Sprintf("%d connections: %v", p.N, err)
	}
	if avail := memAvailable(); avail > 0 && uint64(p.N)*connsMemPerConn > avail*8/10 {
		return fmt.Sprintf("%d connections need about %.1f GiB (%d KiB each, every process), more than 80 %% of MemAvailable %.1f GiB",
			p.N, float64(p.N)*connsMemPerConn/(1<<30), connsMemPerConn>>10, float64(avail)/(1<<30))
	}
	return ""
}

// connsProxyConfig is the sweep's proxy config: one listen section with a
// bind per frontend and a server per backend (round robin), maxconn
// N + 200, and client and server timeouts long enough to hold a silent
// connection through the whole cell (opening 100,000 at bin/dpdk's pace
// takes about a minute).
func connsProxyConfig(front, back []string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by perf: the connection sweep's config, the same for every proxy but for its ports
global
    maxconn %d

defaults
    mode tcp
    maxconn %d
    timeout connect 5s
    timeout client  10m
    timeout server  10m

listen echo
`, n+200, n+200)
	for _, f := range front {
		fmt.Fprintf(&b, "    bind %s\n", f)
	}
	b.WriteString("    balance roundrobin\n")
	for i, a := range back {
		fmt.Fprintf(&b, "    server s%d %s\n", i+1, a)
	}
	return b.String()
}

// connsState is one cell's sweep client, held from the warm-up to the
// rig's end.
type connsState struct {
	plan   ConnsPlan
	client *supervise.Proc
	addrs  []string
	rss0   int64 // the fresh server's RSS before the opening
	phases int   // PHASE lines read
	// The opening's figures, recorded with the first repetition.
	setupRate, setupCPU float64
	reported            bool
}

// connsClient stops the sweep client: stdin closed (it closes its
// connections and exits), killed if it has not after a while.
type connsClient struct{ p *supervise.Proc }

func (c connsClient) Stop() error {
	_ = c.p.CloseStdin()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.p.Wait(ctx); err != nil && ctx.Err() != nil {
		c.p.Kill()
		<-c.p.Done()
		return fmt.Errorf("sweep client still closing its connections after 60 s: killed")
	}
	return nil
}

// connsRig starts a point's target: direct (the raw server, measured)
// or a proxy with plan.Backends raw backends behind it.
func (r *runner) connsRig(target string, plan ConnsPlan, pin int, st *connsState) (*rig, error) {
	if _, ok := r.run.Extra["conns_limits"]; !ok {
		r.run.Extra["conns_limits"] = ConnsLimits(SuiteConns(r.cfg.Suite))
	}
	if err := raiseNoFile(plan.NoFile); err != nil {
		return nil, err
	}
	*st = connsState{plan: plan}
	if target == Direct {
		g, err := r.rawRig(pin)
		if err == nil {
			st.addrs = []string{g.addr["echo"]}
		}
		return g, err
	}
	g := newRig()
	var back []string
	for i := 0; i < plan.Backends; i++ {
		if _, err := r.startRaw(g, pin); err != nil {
			g.stop()
			return nil, err
		}
		back = append(back, g.addr["echo"])
	}
	var front, roles []string
	for i := 0; i < plan.Fronts; i++ {
		p, err := anchor.FreePort()
		if err != nil {
			g.stop()
			return nil, err
		}
		front = append(front, fmt.Sprintf("%s:%d", r.listenHost(target), p))
		roles = append(roles, fmt.Sprintf("front%d", i))
	}
	text := connsProxyConfig(front, back, plan.N)
	if !Userspace(target) && target != HAProxy {
		r.run.Extra["conns_proxy_config_"+strconv.Itoa(plan.N)] = text
	}
	if err := r.startProxy(g, target, pin, text, roles, front, nil); err != nil {
		return nil, err
	}
	for _, role := range roles {
		st.addrs = append(st.addrs, g.addr[role])
	}
	return g, nil
}

// connsOpen starts the sweep client and waits until it holds every
// connection, reading the server's CPU and RSS around the opening.
func (r *runner) connsOpen(g *rig, pin int, st *connsState) error {
	u0, err := g.measured.Usage()
	if err != nil {
		return err
	}
	flags := []string{"--addr", strings.Join(st.addrs, ","), "--n", fmt.Sprint(st.plan.N), "--parallel", fmt.Sprint(connsParallel),
		"--size", fmt.Sprint(connsSize), "--rate", fmt.Sprint(connsRate), "--senders", fmt.Sprint(connsSenders)}
	if len(st.plan.Sources) > 0 {
		flags = append(flags, "--sources", strings.Join(st.plan.Sources, ","))
	}
	argv := r.loadgenArgs("conns", flags...)
	// Generous: bin/dpdk opens about 2,000 a second.
	wait := 60*time.Second + time.Duration(st.plan.N)*5*time.Millisecond
	p, err := supervise.Start(r.clientSpec(supervise.Spec{Name: commandName(argv), Path: argv[0], Args: argv[1:], CPUs: anchor.CPUs(pin),
		Stdin: true, ReadyWord: "HOLDING", ReadyTimeout: wait, Capture: jsonCapture}))
	var res loadgen.Result
	if se, ok := err.(*supervise.StartError); ok && json.Unmarshal(lastJSONLine([]byte(se.Stdout)), &res) == nil && res.Err != "" {
		return fmt.Errorf("%s", res.Err)
	}
	if err != nil {
		return fmt.Errorf("sweep client: %w", err)
	}
	g.add(connsClient{p}) // stopped first: added last
	st.client = p
	u1, err := g.measured.Usage()
	if err != nil {
		return fmt.Errorf("%s exited while the connections opened: %s", g.measured.Name, g.measured.Stderr())
	}
	if len(p.Ready) < 2 {
		return fmt.Errorf("sweep client: HOLDING line %q, want N and seconds", strings.Join(p.Ready, " "))
	}
	secs, err := strconv.ParseFloat(p.Ready[1], 64)
	if err != nil || secs <= 0 {
		return fmt.Errorf("sweep client: HOLDING seconds %q", p.Ready[1])
	}
	st.rss0 = u0.RSSBytes
	st.setupRate = float64(st.plan.N) / secs
	st.setupCPU = supervise.CPUDelta(u0, u1) / float64(st.plan.N) * 1e6
	return nil
}

// connsPhase runs one phase of requests for d and returns its result.
func (r *runner) connsPhase(st *connsState, d time.Duration) (loadgen.ConnsPhase, error) {
	var ph loadgen.ConnsPhase
	if err := st.client.WriteStdin([]byte("run " + d.String() + "\n")); err != nil {
		return ph, err
	}
	want := st.phases + 1
	err := st.client.WaitFor("a phase's result", d+30*time.Second, func() (bool, error) {
		// The line may arrive in pieces (a histogram is a few KiB): it is
		// whole once the output ends in its newline.
		out := st.client.Stdout()
		return strings.Count(out, "PHASE ") >= want && strings.HasSuffix(out, "\n"), nil
	})
	if err != nil {
		return ph, err
	}
	st.phases = want
	out := st.client.Stdout()
	line := out[strings.LastIndex(out, "PHASE ")+len("PHASE "):]
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if err := json.Unmarshal([]byte(line), &ph); err != nil {
		return ph, fmt.Errorf("sweep client: bad PHASE line: %w", err)
	}
	if ph.Err != "" {
		return ph, fmt.Errorf("%s", ph.Err)
	}
	if ph.Ops == 0 || ph.Seconds <= 0 {
		return ph, fmt.Errorf("sweep client: no request completed in %v", d)
	}
	return ph, nil
}

// connsLoad is a point's load: the warm-up opens the connections (and
// runs a warm-up phase), each repetition is a phase over them.
func (r *runner) connsLoad(st *connsState) func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
	return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		empty := sample{metrics: map[string]float64{}}
		if st.client == nil {
			if err := r.connsOpen(g, pin, st); err != nil {
				return empty, err
			}
		}
		d := r.repDuration(g, "conns")
		if warm {
			d = r.cfg.Suite.Warmup
		}
		u0, err := g.measured.Usage()
		if err != nil {
			return empty, err
		}
		ph, err := r.connsPhase(st, d)
		if err != nil {
			return empty, err
		}
		u1, err := g.measured.Usage()
		if err != nil {
			return empty, fmt.Errorf("%s exited: %s", g.measured.Name, g.measured.Stderr())
		}
		if warm {
			return empty, nil
		}
		cpu := supervise.CPUDelta(u0, u1)
		n := float64(st.plan.N)
		s := sample{metrics: map[string]float64{
			"rate":                     float64(ph.Ops) / ph.Seconds,
			"server_rss_kb_per_conn":   float64(u1.RSSBytes-st.rss0) / 1024 / n,
			"server_cpu_us_per_conn_s": cpu / (n * ph.Seconds) * 1e6,
		}, units: float64(ph.Ops), seconds: ph.Seconds, hist: ph.Hist, serverCPU: &cpu}
		if ph.Latency != nil {
			s.metrics["p50_us"], s.metrics["p99_us"], s.metrics["p999_us"], s.metrics["max_us"] = ph.Latency.P50, ph.Latency.P99, ph.Latency.P999, ph.Latency.Max
		}
		if !st.reported {
			// One opening per cell: recorded once (n = 1).
			s.metrics["setup_conns_per_s"], s.metrics["setup_cpu_us_per_conn"] = st.setupRate, st.setupCPU
			st.reported = true
		}
		return s, nil
	}
}

var (
	mRSSConnS   = result.MetricDef{Name: "server_rss_kb_per_conn", Unit: "KiB/conn", Lower: true, Headline: true}
	mCPUConnSec = result.MetricDef{Name: "server_cpu_us_per_conn_s", Unit: "CPU-µs/(conn·s)", Lower: true, Headline: true}
	mSetupRate  = result.MetricDef{Name: "setup_conns_per_s", Unit: "conn/s"}
	mSetupCPU   = result.MetricDef{Name: "setup_cpu_us_per_conn", Unit: "CPU-µs/conn", Lower: true}
)

// connsScenarios are the sweep's points: proxy-conns-10k runs in every
// suite that runs all or lists it, the others only where listed (--scale).
func (r *runner) connsScenarios() []*scenarioDef {
	lo, hi := portRange()
	var defs []*scenarioDef
	for _, n := range ConnsPoints {
		defs = append(defs, r.connsPoint(n, PortsPerTuple(lo, hi)))
	}
	return defs
}

// connsPoint is the point of n connections, per on one address pair.
func (r *runner) connsPoint(asked, per int) *scenarioDef {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	n, sized := asked, ""
	if fit := FitConns(asked, lim.Max, readSysInt("/proc/sys/fs/nr_open", 1<<20), capSysResource()); fit > 0 && fit < asked {
		n = fit
		sized = fmt.Sprintf(" Sized down from %d: a proxy holds 2 descriptors per connection, RLIMIT_NOFILE's hard limit is %d and this process cannot raise it (no CAP_SYS_RESOURCE), "+
			"so %d (2N + 1,024 ≤ the limit, a multiple of 100) is the most every target can hold; a point is sized so only down to 90 %% of its N, and absent below that.", asked, lim.Max, n)
	}
	d := &scenarioDef{unit: perMsg, exclusive: true, listedOnly: asked != connsDefaultN, res: result.Scenario{
		ID:    ConnsID(asked),
		Group: GroupConns,
		Title: fmt.Sprintf("Proxy connection sweep: %d connections held, %d B requests at %d/s in all, split", n, connsSize, connsRate),
		Split: true,
		Params: map[string]string{"conns": fmt.Sprint(n), "size": fmt.Sprint(connsSize), "rate": fmt.Sprint(connsRate),
			"parallel_opens": fmt.Sprint(connsParallel), "per_tuple": fmt.Sprint(per)},
		Metrics: []result.MetricDef{mRSSConnS, mCPUConnSec, mP99, mP50, mRateLat, mCPUMsg, mSetupRate, mSetupCPU, mPeakRSS},
		Anchors: []string{Direct, HAProxy},
		Note: fmt.Sprintf("The client (perf loadgen conns) opens %d connections, at most %d at a time, each proven through by one %d B echo (setup: the opening's rate and the server's CPU per connection over it, "+
			"one opening per cell, so n = 1), then holds them while each repetition sends %d B requests at %d/s in all, open loop, round robin over the connections "+
			"(latency from the intended send time). RSS per connection = (RSS at the repetition's end − the fresh server's RSS before the opening) / N; "+
			"CPU per connection-second = the server's CPU during the repetition / (N × its seconds): the cost of holding a connection, the requests included. "+
			"Targets run one after another, each whole (open, warm-up, repetitions, close), so no other target's connections are open meanwhile. "+
			"Above %d connections per address pair the client binds several 127.0.0.x sources (bin/dpdk: several frontend ports) and the proxy has several backend listeners (round robin). direct: the raw server holding the connections itself.",
			n, connsParallel, connsSize, connsSize, connsRate, per) + sized,
	}}
	if n != asked {
		d.res.Params["conns_asked"] = fmt.Sprint(asked)
		d.res.Title = strings.Replace(d.res.Title, fmt.Sprintf("%d connections", n), fmt.Sprintf("%d connections (%d asked: RLIMIT_NOFILE)", n, asked), 1)
	}
	for _, t := range r.proxyTargets(nil) {
		st := &connsState{}
		plan := PlanConns(n, per, !Userspace(t.name))
		t.setup = retryOnce(func(pin int) (*rig, error) { return r.connsRig(t.name, plan, pin, st) })
		t.load = r.connsLoad(st)
		t.first = true
		if t.absent == "" {
			t.absent = connsAbsent(plan)
		}
		d.targets = append(d.targets, t)
	}
	return d
}
