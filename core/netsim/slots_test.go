package netsim

import (
	"fmt"
	"os"
	"testing"

	"github.com/netmodels/netmodels/core/dpdknet"
)

// standIn plays a bin/dpdk process with dpdknet slot i on side: a
// namespace of its own (the DPDK stack) joined to side by a veth pair
// whose end in side is the slot's interface with the slot's gateway
// address, as --tap-peer gives the kernel side of bin/dpdk's tap. The
// stack end has the slot's stack address and its default route via the
// gateway, as --ip and --gw give the DPDK stack. It returns a Side for the
// stand-in's namespace (deleted at the test's end, before the topology's
// Close runs: Cleanups run newest first).
func standIn(t *testing.T, side *Side, i int) *Side {
	t.Helper()
	pool := dpdknet.NewPool(i + 1)
	var slot *dpdknet.Slot
	for range i + 1 {
		s, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		slot = s
	}
	// Named under NetnsPrefix with this PID, so SweepStale removes it if
	// the test binary dies before its Cleanup.
	ns := fmt.Sprintf("%s%d-stack%d", NetnsPrefix, os.Getpid(), i)
	if err := run("ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run("ip", "netns", "del", ns) })
	steps := [][]string{
		{"ip", "-n", side.Netns, "link", "add", slot.Iface, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", side.Netns, "addr", "add", slot.Kernel.String(), "dev", slot.Iface},
		{"ip", "-n", side.Netns, "link", "set", slot.Iface, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", slot.Stack.String(), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", slot.Kernel.Addr().String()},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatal(err)
		}
	}
	return &Side{Role: "stack", Netns: ns, Addr: slot.Stack.Addr(), topo: side.topo}
}

// TestSlotsRouted: a DPDK stack on a dpdknet slot in either namespace
// (a stand-in here, see standIn; bin/dpdk itself in conformance's network
// cases and perf's two-hosts runs) is reached from the other side across
// the link, from its own side without touching the link, and reaches a
// stack on the other side: the routes routeSlots adds.
func TestSlotsRouted(t *testing.T) {
	// An emulated link with nothing to emulate: its counters show which
	// connections crossed it.
	topo := up(t, Profile{Name: "plain"})
	srv := standIn(t, topo.Server, 0)
	cli := standIn(t, topo.Client, 1)
	addr := startEcho(t, srv, 7000)

	// 64 KiB each way is at least 46 full frames per direction; the
	// link also carries a few frames of its own (IPv6 router
	// solicitations and the like when it comes up), never 40.
	crossed := func(what string, from *Side) (cs, sc uint64) {
		cs0, sc0 := topo.Counters()
		echo(t, from, addr, 64<<10)
		cs1, sc1 := topo.Counters()
		cs, sc = cs1.Forwarded-cs0.Forwarded, sc1.Forwarded-sc0.Forwarded
		t.Logf("%s: %d frames client→server, %d server→client", what, cs, sc)
		return cs, sc
	}
	if cs, sc := crossed("server side → its stack", topo.Server); cs >= 40 || sc >= 40 {
		t.Errorf("a connection within the server side crossed the link")
	}
	if cs, sc := crossed("client → server-side stack", topo.Client); cs < 46 || sc < 46 {
		t.Errorf("client → server-side stack did not cross the link both ways")
	}
	// Stack to stack: a DPDK msgr-client against a DPDK msgr-server.
	if cs, sc := crossed("client-side stack → server-side stack", cli); cs < 46 || sc < 46 {
		t.Errorf("stack to stack did not cross the link both ways")
	}
	// And a stack dials the other side's kernel address.
	echo(t, srv, startEcho(t, topo.Client, 7001), 1<<10)
}
