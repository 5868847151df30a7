package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/perf/result"
)

// bin/dpdk runs the engine on DPDK + gVisor netstack: its stack owns a
// port and an address of its own, and has no loopback. The harness runs it
// in two ways, each its own target:
//
//   - "dpdk": over a tap (core/dpdknet slot), driven by the same kernel
//     clients and load generators as every other engine, with the kernel
//     backends and anchors on dpdknet.HostIP;
//   - "dpdk-memif": msgr-server and msgr-client, each a bin/dpdk process,
//     joined by a net_memif port (shared memory, no kernel on the data
//     path). Its client is bin/dpdk's msgr-client, not the kernel client of
//     the other rows, so only the msgr-client scenarios have it.
//
// "dpdk-spin" is bin/dpdk with --poll=spin; only the idle-CPU scenario
// has it (busy-polling costs a core whatever the load).
const (
	DPDK      = "dpdk"
	DPDKMemif = "dpdk-memif"
	DPDKSpin  = "dpdk-spin"
)

// Memif addresses: a point-to-point link of its own per server, so every
// pair may use the same two.
const (
	memifServerIP = "203.0.113.1/24"
	memifClientIP = "203.0.113.2/24"
)

// Userspace reports whether target name is bin/dpdk (any variant, at
// any baseline).
func Userspace(name string) bool {
	name = baseTarget(name)
	return name == DPDK || strings.HasPrefix(name, DPDK+"-")
}

// engineBase is the binary a target runs: bin/dpdk for every dpdk
// variant; a baseline target keeps its "@LABEL" (engineBin finds it in
// the baseline's bin/).
func engineBase(name string) string {
	e, label := result.SplitBaseline(name)
	if Userspace(e) {
		e = DPDK
	}
	if label != "" {
		return result.BaselineTarget(e, label)
	}
	return e
}

// NeedsTopology reports whether a run over engines (nil: every engine
// found in binDir, see DiscoverEngines) starts bin/dpdk over a tap, and so
// must run inside core/dpdknet's namespace.
func NeedsTopology(binDir string, engines []string) bool {
	if len(engines) == 0 {
		_, err := os.Stat(filepath.Join(binDir, DPDK))
		return err == nil
	}
	for _, e := range engines {
		if Userspace(e) {
			return true
		}
	}
	return false
}

// DPDKConfig is the topology bin/dpdk runs in (nil in Config: no dpdk
// over tap in this run).
type DPDKConfig struct {
	// Slots hands out a tap and a /30 per bin/dpdk process over tap.
	Slots *dpdknet.Pool
	// MTU is bin/dpdk's port MTU (--mtu); 0 leaves its default (1500).
	MTU int
}

// mtuFlags is bin/dpdk's --mtu, when one was asked for.
func (r *runner) mtuFlags() []string {
	if d := r.cfg.DPDK; d != nil && d.MTU > 0 {
		return []string{fmt.Sprintf("--mtu=%d", d.MTU)}
	}
	return nil
}

// serverFlags are the engine flags a server (msgr-server, proxy) of
// target needs, and how the report shows them (slot numbers and socket
// paths change every start). Kernel engines need none. A tap slot or a
// memif socket directory is given back by g.stop.
func (r *runner) serverFlags(g *rig, target string) (flags []string, shown []string, err error) {
	v := baseTarget(target) // dpdk-memif for dpdk-memif@HEAD~1 too
	switch {
	case v == DPDK || v == DPDKSpin:
		if r.cfg.DPDK == nil {
			return nil, nil, fmt.Errorf("%s: no DPDK topology (the harness must run as root to make its network namespace)", target)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		slot, err := r.cfg.DPDK.Slots.Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		// Given back once the process has exited (its tap is gone).
		g.release = append(g.release, slot.Release)
		flags = append(slot.Flags(), r.mtuFlags()...)
		shown = append([]string{"--tap=nmtapN", "--ip=192.0.2.N/30", "--gw=...", "--tap-peer=..."}, r.mtuFlags()...)
		if v == DPDKSpin {
			flags = append(flags, "--poll=spin")
			shown = append(shown, "--poll=spin")
		}
		return flags, shown, nil
	case v == DPDKMemif:
		dir, err := os.MkdirTemp(r.cfg.WorkDir, "memif-")
		if err != nil {
			return nil, nil, fmt.Errorf("memif socket folder: %w", err)
		}
		g.release = append(g.release, func() { os.RemoveAll(dir) })
		sock := filepath.Join(dir, "memif.sock")
		flags = append([]string{"--memif=server," + sock, "--ip=" + memifServerIP}, r.mtuFlags()...)
		shown = append([]string{"--memif=server,SOCKET", "--ip=" + memifServerIP}, r.mtuFlags()...)
		// The client is the other end of this server's memif port.
		g.client = &clientSpec{
			bin:   r.engineBin(engineBase(target)),
			flags: append([]string{"--memif=client," + sock, "--ip=" + memifClientIP}, r.mtuFlags()...),
		}
		return flags, shown, nil
	}
	return nil, nil, nil
}

// listenHost is the host a target's own listeners bind: its stack's own
// address for bin/dpdk (which reads 127.0.0.1 as "my address"), else the
// harness's host, so a DPDK stack could reach it too.
func (r *runner) listenHost(target string) string {
	if Userspace(target) {
		return "127.0.0.1"
	}
	return r.host()
}

// host is where the harness's own listeners and the anchors bind.
func (r *runner) host() string {
	if r.hosts != nil {
		return r.cfg.Hosts.Server.Host
	}
	if r.net != nil {
		return r.net.Server.Addr.String()
	}
	if r.cfg.Host != "" {
		return r.cfg.Host
	}
	return "127.0.0.1"
}

// Why dpdk-memif has no cell where its client would be a kernel process.
const (
	memifNoKernelClient = "dpdk-memif is driven only by bin/dpdk msgr-client over memif (two DPDK processes, no kernel on the data path); this scenario's client is the harness's kernel msgr1 client"
	memifNoProxy        = "dpdk-memif is a messenger-only target: the proxy scenarios' load generator and backend are kernel processes, which a memif port cannot reach"
	memifOnePeer        = "a memif server port takes one peer, and this scenario runs 4 client processes at once"
)
