//go:build dpdk

package dpdkengine

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// The DPDK tests run in a private network namespace the test binary
// creates for itself: TestMain re-executes the binary under `unshare --net`
// (core/dpdknet; root needed, as for any tap device), sets the namespace up
// as dpdknet does for the suite and the perf harness, and inside it starts the runtime on
// a net_tap vdev and gives the tap's kernel side 192.0.2.1/24 with IPv4
// forwarding on. The kernel side is both a peer (kernel clients dial the
// engine) and the router that sends the engine's traffic to itself back in
// (see NewNetstack), so every kit connection crosses DPDK in both
// directions. Kernel peers the engine dials (the proxy kit's backends,
// haproxy) listen on hostAddr, on the namespace's lo. Only documentation
// addresses are used.

const (
	tapName   = "dtap0"
	stackAddr = "192.0.2.2"
	peerAddr  = "192.0.2.1"
	// hostAddr is a kernel address on the namespace's lo that the stack
	// reaches through the tap: kernel servers of the proxy kit and
	// haproxy bind it (the kernel's 127.0.0.1 is out of the stack's reach).
	hostAddr = dpdknet.HostIP
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role)) // a second DPDK process (memif_dpdk_test.go)
	}
	if role := os.Getenv(floorEnv); role != "" {
		os.Exit(runFloor(role)) // memiffloor_dpdk_test.go
	}
	if !dpdknet.InNetns() {
		code, err := dpdknet.Reexec()
		if err != nil {
			fmt.Fprintf(os.Stderr, "dpdk tests: %v; run as root or without -tags dpdk\n", err)
		}
		os.Exit(code)
	}
	if err := setupTopology(); err != nil {
		fmt.Fprintf(os.Stderr, "dpdk test topology: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	Teardown()
	os.Exit(code)
}

// setupTopology: the namespace as dpdknet.Setup makes it (lo with
// hostAddr, IPv4 forwarding, no redirects), then this process's runtime on
// dtap0 and the tap's kernel side.
func setupTopology() error {
	if err := dpdknet.Setup(); err != nil {
		return err
	}
	o, err := OptionsFromEnv() // NETMODELS_DPDK_POLL picks the idle policy
	if err != nil {
		return err
	}
	o.EAL = DefaultEAL(TapVdev(tapName) + ",mac=02:00:00:00:02:02")
	o.Addr, o.Gateway = netip.MustParsePrefix(stackAddr+"/24"), netip.MustParseAddr(peerAddr)
	o.OnStart = dpdknet.TapPeer{Iface: tapName, Prefix: netip.MustParsePrefix(peerAddr + "/24")}.Configure
	if err := Configure(o); err != nil {
		return err
	}
	_, err = DefaultRuntime()
	return err
}

// runtimeEndpoint is the running runtime's link endpoint.
func runtimeEndpoint() *link.Endpoint {
	rtMu.Lock()
	defer rtMu.Unlock()
	return rt.ep
}

// setPollMode changes the running poller's idle policy.
func setPollMode(m link.PollMode) {
	rtMu.Lock()
	defer rtMu.Unlock()
	rt.ctl.SetMode(m)
}
