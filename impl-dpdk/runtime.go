package dpdkengine

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
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
}

// DefaultEAL runs without hugepages or PCI on one tap vdev, leaving no
// shared files behind (research/dpdk-gvisor.md, "EAL arguments"). Its one
// lcore may run on any CPU the process is allowed (LcoreSpec), so that
// `taskset -c N bin/dpdk` pins the poller instead of failing EAL init.
func DefaultEAL(iface string) []string {
	return []string{"--no-huge", "--no-pci", "-m", "256", "--lcores=" + LcoreSpec(), "--no-shconf", "--no-telemetry",
		"--log-level=lib.eal:error", fmt.Sprintf("--file-prefix=nm%d", os.Getpid()), "--vdev=net_tap0,iface=" + iface}
}

// LcoreSpec maps lcore 0 to the CPUs in the process's affinity mask
// ("0@(0,1)"). EAL pins each lcore thread to its CPU set and rejects a set
// outside the mask, so a fixed "-l 0" breaks under taskset.
func LcoreSpec() string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "0@(0)"
	}
	var cpus []string
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, strconv.Itoa(i))
		}
	}
	if len(cpus) == 0 {
		return "0@(0)"
	}
	return "0@(" + strings.Join(cpus, ",") + ")"
}

// OptionsFromEnv reads NETMODELS_DPDK_EAL (space-separated), _ADDR, _GW
// and _POLL, with the defaults of the test topology.
func OptionsFromEnv() (Options, error) {
	o := Options{EAL: DefaultEAL("dtap0"), Addr: netip.MustParsePrefix("192.0.2.2/24"), Gateway: netip.MustParseAddr("192.0.2.1")}
	if v := os.Getenv("NETMODELS_DPDK_EAL"); v != "" {
		o.EAL = strings.Fields(v)
	}
	if v := os.Getenv("NETMODELS_DPDK_ADDR"); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return o, fmt.Errorf("NETMODELS_DPDK_ADDR: %w", err)
		}
		o.Addr = p
	}
	if v := os.Getenv("NETMODELS_DPDK_GW"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return o, fmt.Errorf("NETMODELS_DPDK_GW: %w", err)
		}
		o.Gateway = a
	}
	o.LogToStderr = os.Getenv("NETMODELS_DPDK_EAL_LOG") == "stderr"
	m, err := link.ParsePollMode(os.Getenv("NETMODELS_DPDK_POLL"))
	if err != nil {
		return o, fmt.Errorf("NETMODELS_DPDK_POLL: %w", err)
	}
	o.Poll = m
	return o, nil
}

var (
	rtMu      sync.Mutex
	rtOpts    *Options
	rt        *dpdkRuntime
	rtErr     error
	rtStarted bool
)

// Configure sets the runtime options; it must run before the first New.
func Configure(o Options) error {
	rtMu.Lock()
	defer rtMu.Unlock()
	if rtStarted {
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
	if !rtStarted {
		rtStarted = true
		o := rtOpts
		if o == nil {
			env, err := OptionsFromEnv()
			if err != nil {
				rtErr = fmt.Errorf("dpdk: %w", err)
				return nil, rtErr
			}
			o = &env
		}
		rt, rtErr = startRuntime(*o)
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
	if rtErr == nil {
		rtErr = fmt.Errorf("dpdk: runtime torn down")
	}
	rtMu.Unlock()
	if r != nil {
		r.stop()
	}
}
