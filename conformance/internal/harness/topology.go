package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/dpdknet"
)

// Engines on a userspace TCP/IP stack cannot be reached on the kernel's
// loopback: their stack owns a DPDK port (a tap here) and its own address.
// The suite runs them with core/dpdknet's topology: the whole suite
// re-executes itself in a private network namespace (EnterTopology), every
// bin/dpdk process gets a tap slot (its engine flags are appended to its
// command line), and every socket the suite itself opens for an engine to
// reach (backends, msgr1 servers, ceph-mon, haproxy) binds HostIP, an
// address on the namespace's lo that both kernel and DPDK engines reach.
var userspaceStack = map[string]bool{"dpdk": true}

var (
	hostIP  = "127.0.0.1"
	hostIP2 = "127.0.0.2"
	// slots bounds the bin/dpdk processes alive at once (each holds a
	// 256 MiB EAL heap and a poll thread).
	slots = dpdknet.NewPool(12)
)

// HostIP is where the suite's own listeners bind and what engines dial to
// reach them: 127.0.0.1, or dpdknet.HostIP when the topology is up.
func HostIP() string { return hostIP }

// HostIP2 is a second local source address (127.0.0.2 or dpdknet.HostIP2).
func HostIP2() string { return hostIP2 }

// ListenHost is the host an engine's own listeners bind: its stack's own
// address for a userspace stack (bin/dpdk reads 127.0.0.1 as "my
// address"), HostIP for a kernel engine so a DPDK client in an interop
// pair can reach it too.
func ListenHost(e Engine) string {
	if e.Userspace {
		return "127.0.0.1"
	}
	return hostIP
}

// EnterTopology is called first in TestMain. When an engine under test
// needs the DPDK topology and this process is not yet in its namespace, it
// re-executes the test binary there and returns done = true with the
// child's exit code. Inside the namespace it sets the namespace up and
// switches HostIP. Otherwise it does nothing.
func EnterTopology(engines []Engine) (done bool, code int) {
	need := false
	for _, e := range engines {
		need = need || e.Userspace
	}
	if !need {
		return false, 0
	}
	if !dpdknet.InNetns() {
		code, err := dpdknet.Reexec()
		if err != nil {
			fmt.Fprintf(os.Stderr, "conformance: engine dpdk under test: %v (run as root, or choose ENGINES without dpdk)\n", err)
		}
		return true, code
	}
	if err := dpdknet.Setup(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: dpdk topology: %v\n", err)
		return true, 1
	}
	hostIP, hostIP2 = dpdknet.HostIP, dpdknet.HostIP2
	return false, 0
}

// slotRef is a tap slot shared by the processes of one test (a restarted
// server keeps its address); it is released when the last holder lets go.
type slotRef struct {
	mu   sync.Mutex
	s    *dpdknet.Slot
	refs int
}

func (r *slotRef) hold() {
	r.mu.Lock()
	r.refs++
	r.mu.Unlock()
}

func (r *slotRef) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.refs--
	last := r.refs == 0
	r.mu.Unlock()
	if last {
		r.s.Release()
	}
}

func acquireSlot() (*slotRef, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout*4)
	defer cancel()
	s, err := slots.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &slotRef{s: s, refs: 1}, nil
}

// withSlot returns args plus the slot's engine flags for a userspace
// engine (a new slot unless reuse is given), or args unchanged.
func withSlot(e Engine, reuse *slotRef, args []string) ([]string, *slotRef, error) {
	if !e.Userspace {
		return args, nil, nil
	}
	r := reuse
	if r != nil {
		r.hold()
	} else {
		var err error
		if r, err = acquireSlot(); err != nil {
			return nil, nil, err
		}
	}
	return append(append([]string(nil), args...), r.s.Flags()...), r, nil
}

// StartAgain starts e with args on the same address as prev (a userspace
// engine keeps prev's tap slot; prev must have stopped): a restart under a
// peer that remembers the address.
func StartAgain(t testing.TB, prev *Proc, e Engine, args ...string) *Proc {
	t.Helper()
	return start(t, e, prev.slot, args)
}

// CommandArgs returns args as a case must pass them to e when it runs the
// binary itself (a command that prints no READY line): a userspace
// engine gets a tap slot, held until the test ends.
func CommandArgs(t testing.TB, e Engine, args ...string) []string {
	t.Helper()
	full, slot, err := withSlot(e, nil, args)
	if err != nil {
		t.Fatalf("%s %s: %v", e.Name, strings.Join(args, " "), err)
	}
	t.Cleanup(slot.release)
	return full
}
