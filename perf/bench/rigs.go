package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/result"
)

// rig is what one cell's load runs against: the measured process (server,
// proxy or anchor) and everything started for it.
type rig struct {
	measured *supervise.Proc
	procs    []stopper
	addr     map[string]string
	server   string
	// metricsAddr is the server's Prometheus endpoint, when it has one.
	metricsAddr string
	// client, when set, is the msgr-client this server must be driven by
	// (dpdk-memif: the other end of its memif port); nil = the run's
	// client engine.
	client *clientSpec
	// release gives back what the processes held (tap slots, memif
	// socket folders), after they exited.
	release []func()
	// userspace: the measured process is bin/dpdk (Suite.UserspaceDuration).
	userspace bool
	// profile, when set, is where the measured process writes its CPU
	// profile when it stops (core/cli's NETMODELS_CPUPROFILE).
	profile string
	// window: the measured process speaks core/cli's measured-window
	// protocol on its stdin (where.go); windowSeq counts its answers,
	// windowOpen says a window is open.
	window     bool
	windowSeq  int
	windowOpen bool
	// radosCleanup: after each rados bench, remove the objects it wrote
	// (the real ceph-osd stores them; msgr-rados, rados.go).
	radosCleanup bool
	// rampSat is a ramp cell's saturation rate, the highest of its
	// closed-loop probes' rates (ramp.go); 0 until probed.
	rampSat float64
}

// clientSpec is a msgr-client binary and the engine flags it needs.
type clientSpec struct {
	bin   string
	flags []string
}

func (g *rig) stop() []error {
	var errs []error
	for i := len(g.procs) - 1; i >= 0; i-- {
		if err := g.procs[i].Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range g.release {
		f()
	}
	g.release = nil
	return errs
}

// stopper is a started process: a *supervise.Proc, or a core/peers
// anchor whose Stop also checks for crash reports.
type stopper interface{ Stop() error }

func (g *rig) add(p stopper) {
	// A program on the server host is stopped there, by its PID.
	if sp, ok := p.(*supervise.Proc); ok {
		if rp := remoteOf(sp); rp != nil {
			p = remoteStopper{rp}
		}
	}
	g.procs = append(g.procs, p)
}

// startTarget starts a process that follows the CLI contract (READY with
// its addresses on the first stdout line), pinned to pin when >= 0.
func (r *runner) startTarget(name string, argv []string, pin int) (*supervise.Proc, error) {
	return r.startTargetStdin(name, argv, pin, nil, false)
}

// startTargetStdin is startTarget with env added to the child's
// environment and, with stdin, a pipe to its stdin. In a two-hosts run it
// starts on the server side (r.serverSpec).
func (r *runner) startTargetStdin(name string, argv []string, pin int, env []string, stdin bool) (*supervise.Proc, error) {
	if r.hosts != nil {
		return r.startServer(supervise.Spec{Name: name, Path: argv[0], Args: argv[1:], Env: env, CPUs: anchor.CPUs(pin),
			Stdin: stdin, ReadyWord: "READY", ReadyTimeout: 15 * time.Second})
	}
	return supervise.Start(r.serverSpec(supervise.Spec{Name: name, Path: argv[0], Args: argv[1:], Env: env, CPUs: anchor.CPUs(pin),
		Stdin: stdin, ReadyWord: "READY", ReadyTimeout: 15 * time.Second}))
}

// startEngine starts an engine binary's server or proxy (a Go target):
// in a headline scenario with the measured window (where.go), recorded
// on g.
func (r *runner) startEngine(g *rig, name string, argv []string, pin int, env []string) (*supervise.Proc, error) {
	if r.where {
		env = append(append([]string(nil), env...), windowEnv+"=stdin")
	}
	p, err := r.startTargetStdin(name, argv, pin, env, r.where)
	if err == nil {
		g.window = r.where
	}
	return p, err
}

// engineBin is the path of a binary named as engineBase names it: a
// baseline's (ENGINE@LABEL) is in that baseline's bin/.
func (r *runner) engineBin(name string) string {
	if e, label := result.SplitBaseline(name); label != "" && r.cfg.Baseline != nil && label == r.cfg.Baseline.Label {
		return filepath.Join(r.cfg.Baseline.BinDir, e)
	}
	return filepath.Join(r.cfg.BinDir, name)
}
func (r *runner) clientBin() string { return r.engineBin(r.cfg.ClientEngine) }

// rawRoles are the raw server's listeners and a proxy config's sections,
// in READY order.
var rawRoles = []string{"echo", "sink", "txn"}

// setAddrs records a READY line's addresses under rawRoles.
func (g *rig) setAddrs(who string, addrs []string) error { return g.setRoleAddrs(who, rawRoles, addrs) }

// setRoleAddrs records addresses under roles, in order.
func (g *rig) setRoleAddrs(who string, roles, addrs []string) error {
	if len(addrs) < len(roles) {
		return fmt.Errorf("%s: READY with %d addresses, want %s", who, len(addrs), strings.Join(roles, ", "))
	}
	for i, role := range roles {
		g.addr[role] = addrs[i]
	}
	return nil
}

// startRaw starts `perf rawtcp-server` (echo, sink, txn).
func (r *runner) startRaw(g *rig, pin int) (*supervise.Proc, error) {
	p, err := r.startTarget("rawtcp-server", []string{r.cfg.Self, "rawtcp-server", "--listen", r.host()}, pin)
	if err != nil {
		return nil, err
	}
	g.add(p)
	return p, g.setAddrs("rawtcp-server", p.Ready)
}

func newRig() *rig { return &rig{addr: map[string]string{}} }

// rawRig: the raw server is the measured process.
func (r *runner) rawRig(pin int) (*rig, error) {
	g := newRig()
	p, err := r.startRaw(g, pin)
	if err != nil {
		g.stop()
		return nil, err
	}
	g.measured, g.server = p, "perf rawtcp-server (goroutine per connection, 64 KiB echo buffer, 256 KiB sink buffer)"
	return g, nil
}

// msgrRig starts bin/<engine> msgr-server with extra flags (a dpdk
// variant: bin/dpdk with its slot's or memif's engine flags).
func (r *runner) msgrRig(engine string, pin int, extra ...string) (*rig, error) {
	return r.msgrRigEnv(engine, pin, nil, extra...)
}

// msgrRigEnv is msgrRig with env added to the server's environment.
func (r *runner) msgrRigEnv(engine string, pin int, env []string, extra ...string) (*rig, error) {
	g := newRig()
	eflags, eshown, err := r.serverFlags(g, engine)
	if err != nil {
		g.stop()
		return nil, err
	}
	extra = append(extra, r.metricsFlags(extra)...)
	argv := append([]string{r.engineBin(engineBase(engine)), "msgr-server", "--listen", r.listenHost(engine) + ":0"}, extra...)
	p, err := r.startEngine(g, engine+" msgr-server", append(argv, eflags...), pin, env)
	if err != nil {
		g.stop()
		return nil, err
	}
	g.add(p)
	if len(p.Ready) == 0 {
		g.stop()
		return nil, fmt.Errorf("%s msgr-server: READY without an address", engine)
	}
	g.measured, g.addr["msgr"] = p, p.Ready[0]
	g.userspace = Userspace(engine)
	shown := append(append([]string{engineBase(engine)}, argv[1:]...), eshown...)
	for i, a := range extra {
		if a == "--metrics" && i+1 < len(extra) {
			g.metricsAddr = extra[i+1]
		}
	}
	// The metrics port changes every run; the report shows the tuning.
	g.server = strings.Join(shown, " ")
	if g.metricsAddr != "" {
		g.server = strings.ReplaceAll(g.server, g.metricsAddr, r.host()+":PORT")
	}
	return g, nil
}

// retryOnce runs start again when it fails: the anchors bind ports chosen
// by FreePort, which another process on a shared machine can take between
// the choice and the bind.
func retryOnce(start func(pin int) (*rig, error)) func(pin int) (*rig, error) {
	return func(pin int) (*rig, error) {
		g, err := start(pin)
		if err != nil {
			if g2, err2 := start(pin); err2 == nil {
				return g2, nil
			}
		}
		return g, err
	}
}

func (r *runner) cephMonRig(pin int) (*rig, error) { return retryOnce(r.cephMonRigOnce)(pin) }

func (r *runner) proxyRig(proxy string, pin int) (*rig, error) {
	return retryOnce(func(pin int) (*rig, error) { return r.proxyRigOnce(proxy, pin) })(pin)
}

func (r *runner) cephMonRigOnce(pin int) (*rig, error) {
	dir, err := os.MkdirTemp(r.cfg.WorkDir, "ceph-mon-")
	if err != nil {
		return nil, err
	}
	m, err := anchor.StartCephMon(dir, pin)
	if err != nil {
		return nil, err
	}
	g := newRig()
	g.add(m)
	g.measured, g.addr["msgr"] = m.Proc, m.Addr
	g.server = "ceph-mon -f (one monitor, auth none, v1 only, defaults otherwise)"
	return g, nil
}

// proxyConfig is the haproxy.cfg every proxy of a scenario reads, our
// engines and HAProxy alike: one `listen` section in `mode tcp` per raw
// listener (rawRoles), front[i] in front of back[i]. Only the addresses
// differ between targets: each proxy has its own backend and ports, so all
// can be up at once and take turns repetition by repetition.
func proxyConfig(front, back []string, maxconn int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by perf: the same file for every proxy in this scenario but for its ports
global
    maxconn %d

defaults
    mode tcp
    timeout connect 5s
    timeout client  30s
    timeout server  30s
`, maxconn)
	for i, role := range rawRoles {
		fmt.Fprintf(&b, "\nlisten %s\n    bind %s\n    server s1 %s\n", role, front[i], back[i])
	}
	return b.String()
}

// proxyListens is a proxy's frontend address and backend for each of
// rawRoles, the backends being g's raw server's. On a remote host the proxy
// binds port 0 and its READY line names the ports (no probe reaches that
// host beforehand).
func (r *runner) proxyListens(g *rig, proxy string) (front, back []string, err error) {
	for _, role := range rawRoles {
		p := 0
		if r.hosts == nil {
			if p, err = anchor.FreePort(); err != nil {
				return nil, nil, err
			}
		}
		front = append(front, fmt.Sprintf("%s:%d", r.listenHost(proxy), p))
		back = append(back, g.addr[role])
	}
	return front, back, nil
}

// proxyRig starts the raw backend, writes the proxy's config (its own file
// and ports, see proxyConfig) and starts the proxy (an engine's `proxy -f`,
// or haproxy). The proxy is measured.
func (r *runner) proxyRigOnce(proxy string, pin int) (*rig, error) {
	g := newRig()
	if _, err := r.startRaw(g, pin); err != nil {
		g.stop()
		return nil, err
	}
	front, back, err := r.proxyListens(g, proxy)
	if err != nil {
		g.stop()
		return nil, err
	}
	text := proxyConfig(front, back, 4*r.cfg.Suite.ScaleConns+1000)
	if !Userspace(proxy) {
		// bin/dpdk's copy binds 127.0.0.1 (its stack's own address);
		// the report shows the kernel proxies' text.
		r.run.ProxyConfig = text
	}
	if err := r.startProxy(g, proxy, pin, text, rawRoles, front, nil); err != nil {
		return nil, err
	}
	return g, nil
}

// startProxy writes the config text to its own file and starts the proxy
// on it (an engine's `proxy -f`, with env added to its environment, or
// haproxy), as g's measured process; its listeners are recorded under
// roles (front: the config's bind addresses, in the same order). An
// engine's proxy gets extra flags (--workers N in the core sweep). On
// error g is stopped.
func (r *runner) startProxy(g *rig, proxy string, pin int, text string, roles, front, env []string, extra ...string) error {
	f, err := os.CreateTemp(r.cfg.WorkDir, "proxy-"+proxy+"-*.cfg")
	if err != nil {
		g.stop()
		return fmt.Errorf("proxy config: %w", err)
	}
	cfg := f.Name()
	_, err = f.WriteString(text)
	if err = firstErr(err, f.Close()); err != nil {
		g.stop()
		return fmt.Errorf("proxy config %s: %w", cfg, err)
	}
	var p *supervise.Proc
	if proxy == "haproxy" {
		var h *peers.Process
		if h, err = anchor.StartHAProxy(text, strings.TrimSuffix(cfg, ".cfg")+".d", pin); err == nil {
			g.add(h)
			p = h.Proc
		}
		g.server = "haproxy -db -f proxy.cfg (nbthread default: one per visible CPU)"
	} else {
		eflags, eshown, ferr := r.serverFlags(g, proxy)
		if ferr != nil {
			g.stop()
			return ferr
		}
		argv := append([]string{r.engineBin(engineBase(proxy)), "proxy", "-f", cfg}, extra...)
		if r.hosts != nil {
			// The config file goes to the server host beside the binaries.
			if argv[3], err = r.copyToServer(cfg); err != nil {
				g.stop()
				return err
			}
		}
		if p, err = r.startEngine(g, proxy+" proxy", append(argv, eflags...), pin, env); err == nil {
			g.add(p)
		}
		g.server = strings.Join(append(append([]string{engineBase(proxy), "proxy", "-f", "proxy.cfg"}, extra...), eshown...), " ")
	}
	if err != nil {
		g.stop()
		return err
	}
	g.measured = p
	g.userspace = Userspace(proxy)
	addrs := front
	if Userspace(proxy) || r.hosts != nil {
		// bin/dpdk binds its stack's own address for 127.0.0.1, a proxy
		// on a remote host port 0; READY lists the real ones, in the
		// config's order (spec/cli.md).
		addrs = p.Ready
	}
	if err := g.setRoleAddrs(proxy+" proxy", roles, addrs); err != nil {
		g.stop()
		return err
	}
	return nil
}
