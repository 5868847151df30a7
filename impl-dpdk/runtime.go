package dpdkengine

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"
)

// Options configure the process's DPDK runtime. They come from the
// binary's --eal/--ip/--gw/--poll flags or the NETMODELS_DPDK_* variables.
type Options struct {
	// EAL are rte_eal_init's arguments (without the program name).
	EAL []string
	// Addr is the stack's IPv4 address with prefix (192.0.2.2/24).
	Addr netip.Prefix
	// Gateway is the peer that routes for the stack (the tap's kernel side).
	Gateway netip.Addr
	// Poll is the poller's idle policy.
	Poll link.PollMode
	// MTU is the port's and the stack's IP MTU; 0 means 1500. Above 1500
	// the mbufs are made large enough for a whole frame (no scatter).
	MTU int
	// NoLinkWait starts the stack without waiting for the port's link:
	// a memif server's peer connects only after READY.
	NoLinkWait bool
	// LogToStderr keeps DPDK's own log on stderr. By default it goes to an
	// unlinked temporary file (a command's stderr carries one line on
	// error, CONTRACT.md) and errors quote its last line.
	// NETMODELS_DPDK_EAL_LOG=stderr sets it.
	LogToStderr bool
	// OnStart, if set, runs once the port is up and the stack built,
	// before the first engine is returned: bin/dpdk configures the tap's
	// kernel side there (--tap-peer), so a client's first SYN or a
	// listener's READY already has a peer. Its error stops the runtime.
	OnStart func() error
}

// Set sets one option by its bin/dpdk flag name: eal (space-separated
// rte_eal_init arguments), ip, gw or poll. The flags and the
// NETMODELS_DPDK_* variables share it.
func (o *Options) Set(name, value string) (err error) {
	switch name {
	case "eal":
		o.EAL = strings.Fields(value)
	case "ip":
		o.Addr, err = netip.ParsePrefix(value)
	case "gw":
		o.Gateway, err = netip.ParseAddr(value)
	case "poll":
		o.Poll, err = link.ParsePollMode(value)
	default:
		err = fmt.Errorf("no option %q", name)
	}
	return err
}

// DefaultEAL runs without hugepages or PCI on one vdev, leaving no shared
// files behind (research/dpdk-gvisor.md, "EAL arguments"). Its one lcore
// may run on any CPU the process is allowed (LcoreSpec), so that
// `taskset -c N bin/dpdk` pins the poller instead of failing EAL init.
func DefaultEAL(vdev string) []string {
	return []string{"--no-huge", "--no-pci", "-m", "256", "--lcores=" + LcoreSpec(), "--no-shconf", "--no-telemetry",
		"--log-level=lib.eal:error", fmt.Sprintf("--file-prefix=nm%d", os.Getpid()), "--vdev=" + vdev}
}

// TapVdev is the net_tap vdev on interface iface, DefaultEAL's argument.
func TapVdev(iface string) string { return "net_tap0,iface=" + iface }

// LcoreSpec maps lcore 0 to the CPUs in the process's affinity mask
// ("0@(0,1)"). EAL pins each lcore thread to its CPU set and rejects a set
// outside the mask, so a fixed "-l 0" breaks under taskset.
func LcoreSpec() string {
	var cpus []string
	for _, c := range threadCPUs() {
		cpus = append(cpus, strconv.Itoa(c))
	}
	return "0@(" + cmp.Or(strings.Join(cpus, ","), "0") + ")"
}

// threadCPUs lists the CPUs the calling thread may run on (none if the
// mask cannot be read). On the poll thread that is the set EAL pinned it
// to (LcoreSpec).
func threadCPUs() []int {
	var set unix.CPUSet
	_ = unix.SchedGetaffinity(0, &set) // on error it stays empty
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// OptionsFromEnv reads NETMODELS_DPDK_EAL (space-separated), _ADDR, _GW
// and _POLL (Set's eal, ip, gw and poll) and _EAL_LOG, with the defaults
// of the test topology.
func OptionsFromEnv() (Options, error) {
	o := Options{EAL: DefaultEAL(TapVdev("dtap0")), Addr: netip.MustParsePrefix("192.0.2.2/24"), Gateway: netip.MustParseAddr("192.0.2.1")}
	o.LogToStderr = os.Getenv("NETMODELS_DPDK_EAL_LOG") == "stderr"
	for _, env := range [][2]string{{"NETMODELS_DPDK_EAL", "eal"}, {"NETMODELS_DPDK_ADDR", "ip"}, {"NETMODELS_DPDK_GW", "gw"}, {"NETMODELS_DPDK_POLL", "poll"}} {
		if v := os.Getenv(env[0]); v != "" {
			if err := o.Set(env[1], v); err != nil {
				return o, fmt.Errorf("%s: %w", env[0], err)
			}
		}
	}
	return o, nil
}

// The runtime has started (or failed to) once rt or rtErr is set.
var (
	rtMu   sync.Mutex
	rtOpts *Options
	rt     *dpdkRuntime
	rtErr  error
)

// Configure sets the runtime options; it must run before the first New.
func Configure(o Options) error {
	rtMu.Lock()
	defer rtMu.Unlock()
	if rt != nil || rtErr != nil {
		return fmt.Errorf("dpdk: Configure after the runtime started")
	}
	rtOpts = &o
	return nil
}

// DefaultRuntime starts the process's runtime once (EAL cannot be
// initialised twice in a process) and returns its stack.
func DefaultRuntime() (*Netstack, error) {
	rtMu.Lock()
	defer rtMu.Unlock()
	if rt == nil && rtErr == nil {
		var o Options
		if rtOpts != nil {
			o = *rtOpts
		} else if o, rtErr = OptionsFromEnv(); rtErr != nil {
			rtErr = fmt.Errorf("dpdk: %w", rtErr)
		}
		if rtErr == nil {
			rt, rtErr = startRuntime(o)
		}
	}
	if rtErr != nil {
		return nil, rtErr
	}
	return rt.ns, nil
}

// Teardown stops the runtime in the only safe order: stop the poller and
// join it, stop and close the port, then rte_eal_cleanup (cleanup under a
// running poller crashes in net_tap's rx). Engines must be shut down
// first. The runtime cannot be started again in this process.
func Teardown() {
	rtMu.Lock()
	r := rt
	rt = nil
	rtErr = cmp.Or(rtErr, errors.New("dpdk: runtime torn down"))
	rtMu.Unlock()
	if r != nil {
		r.stop()
	}
}

// ErrNotBuilt says the binary lacks DPDK support.
var ErrNotBuilt = errors.New("dpdk: built without DPDK support (install libdpdk-dev and build with -tags dpdk)")

// mbufs is the mbuf pool size: the rx ring (1024) and tx ring (1024) plus
// bursts in flight; a full pool drops tx frames (counted).
const mbufs = 8191

// linkUpTimeout bounds the wait for the port's link (memif needs its peer).
const linkUpTimeout = 10 * time.Second

// dpdkRuntime is the EAL, port, poller and stack of the process. The
// poller goroutine is locked to the EAL thread for good: EAL pins it and
// keeps per-thread state there (lcore id, rte_errno).
type dpdkRuntime struct {
	ns   *Netstack
	ep   *link.Endpoint
	port *rte.Port
	ctl  link.PollControl
	done chan struct{}
}

func startRuntime(o Options) (*dpdkRuntime, error) {
	if !rte.Available {
		return nil, ErrNotBuilt
	}
	r := &dpdkRuntime{done: make(chan struct{})}
	// The poller is a thread locked for good, in a cgo call (a burst, or
	// the rx interrupt wait) nearly all the time: a P of its own and one
	// for gVisor's goroutines and the workers (README, "Threads"). With
	// one P (a process on one CPU) sysmon handed it to gVisor's goroutines
	// during every wait, and each burst's return had to win it back.
	loopkit.ReserveProcs(1)
	ready := make(chan error, 1)
	go r.main(o, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	if o.OnStart != nil {
		if err := o.OnStart(); err != nil {
			r.stop()
			return nil, err
		}
	}
	return r, nil
}

func (r *dpdkRuntime) main(o Options, ready chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
	defer close(r.done)
	if !o.LogToStderr {
		rte.QuietLog()
	}
	if err := rte.EALInit(o.EAL); err != nil {
		ready <- fmt.Errorf("dpdk: EAL init %q: %w", o.EAL, err)
		return
	}
	if rte.PortCount() == 0 {
		rte.EALCleanup()
		ready <- fmt.Errorf("dpdk: no port after EAL init: vdev probe failed (root? /dev/net/tun? bad --vdev?); DPDK log: %s", rte.LastLog())
		return
	}
	// The default MTU is left to the PMD (0): rte_eth_dev_set_mtu only
	// for other sizes.
	mtu, setMTU := cmp.Or(o.MTU, 1500), o.MTU
	if setMTU == 1500 {
		setMTU = 0
	}
	port, err := rte.OpenPort(0, mbufs, setMTU)
	if err != nil {
		rte.EALCleanup()
		ready <- fmt.Errorf("dpdk: port 0: %w", err)
		return
	}
	deadline := time.Now().Add(linkUpTimeout)
	for !o.NoLinkWait && !port.LinkUp() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.ep, r.port = link.New(port, uint32(mtu)), port
	ns, err := NewNetstack(r.ep, o.Addr, o.Gateway)
	if err != nil {
		port.Close()
		rte.EALCleanup()
		ready <- err
		return
	}
	r.ns = ns
	// 1 µs timer slack on this thread, so the poller's nanosleep back-off
	// wakes close to on time.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	ready <- nil
	r.ctl.SetMode(o.Poll)
	r.ctl.SetSpin(link.SpinForCPUs(len(threadCPUs()))) // none read: no spin
	r.ep.Poll(&r.ctl)
	// Safe order: the poll loop has returned on this very thread, and no
	// tx burst starts once StopTx returns (gVisor may still send).
	ns.Stack.Close()
	r.ep.StopTx()
	port.Close()
	rte.EALCleanup()
	removeRunDir(o.EAL)
}

// removeRunDir removes the empty /var/run/dpdk/<prefix> directory that
// EAL leaves even with --no-shconf, so runs do not pile them up.
func removeRunDir(eal []string) {
	for _, a := range eal {
		if p, ok := strings.CutPrefix(a, "--file-prefix="); ok && p != "" && !strings.Contains(p, "/") {
			_ = os.Remove(filepath.Join("/var/run/dpdk", p)) // fails harmlessly unless empty
		}
	}
}

func (r *dpdkRuntime) stop() {
	r.ctl.Stop.Store(true)
	<-r.done
}
