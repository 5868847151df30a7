// Package dpdknet is the network topology in which bin/dpdk can be run
// beside kernel processes: the conformance suite and the perf harness use
// it, impl-dpdk's own tests have the same shape.
//
// A DPDK port's userspace TCP/IP stack has no loopback interface: it is
// reachable only through its port. So the caller re-executes itself in a
// private network namespace (Reexec), sets it up (Setup) and gives every
// bin/dpdk process one Slot: a tap interface of its own and a /30 of
// 192.0.2.0/24, kernel side .1, stack .2 (four addresses per slot). The
// process creates the tap (net_tap vdev) and, with --tap-peer, configures
// its kernel side (TapPeer) before it prints READY.
//
// Kernel processes that a DPDK stack must reach (backends, ceph-mon,
// haproxy, kernel engines in an interop pair) listen on HostIP, an address
// on the namespace's lo: the stack's default route points at its tap's
// kernel side, which delivers HostIP locally and forwards between taps
// (ip_forward=1), so a DPDK client also reaches a DPDK server in another
// process. HostIP2 is a second local source address (ACL cases).
//
// Only documentation addresses are used, and only inside the namespace.
package dpdknet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

const (
	// HostIP is the kernel's address that DPDK stacks reach (on lo).
	HostIP = "198.51.100.1"
	// HostIP2 is a second kernel address on lo, for source-address cases.
	HostIP2 = "198.51.100.2"

	// Slots is how many bin/dpdk processes can run at once (64 /30s of
	// SlotBlock).
	Slots = 64
	// SlotBlock holds every slot's /30 (slotAt). core/netsim routes it
	// between its two namespaces, so a bin/dpdk process started on either
	// side with a slot's flags is reached across the emulated link.
	SlotBlock = "192.0.2.0/24"

	envInNetns = "NETMODELS_IN_NETNS"
)

// InNetns reports whether this process was started by Reexec.
func InNetns() bool { return os.Getenv(envInNetns) == "1" }

// ErrNeedRoot says why the topology cannot be built.
var ErrNeedRoot = errors.New("the dpdk topology needs root (a private network namespace and tap devices)")

// Reexec runs this program again with the same arguments in a private
// network namespace (`unshare --net`) and returns its exit code. The child
// sees InNetns() == true and must call Setup.
func Reexec() (int, error) {
	if os.Geteuid() != 0 {
		return 1, ErrNeedRoot
	}
	exe, err := os.Executable()
	if err != nil {
		return 1, fmt.Errorf("dpdknet: %w", err)
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 1, fmt.Errorf("dpdknet: unshare --net: %w", err)
	}
	return 0, nil
}

// Setup configures the namespace: lo up with HostIP and HostIP2, IPv4
// forwarding on (the kernel routes between taps and back into the same
// tap, so redirects are off), reverse-path filtering off, TIME_WAIT reuse
// as for loopback. It refuses to
// run outside a namespace made by Reexec: these settings must never touch
// the machine's own network.
func Setup() error {
	if !InNetns() {
		return errors.New("dpdknet: Setup outside the private namespace made by Reexec")
	}
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", HostIP + "/32", "dev", "lo"},
		{"ip", "addr", "add", HostIP2 + "/32", "dev", "lo"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		// The kernel reuses TIME_WAIT ports by default (tcp_tw_reuse=2)
		// only for 127/8 addresses. HostIP stands in for loopback here, so
		// it gets the same: without it a connection-rate run exhausts the
		// ports towards one server within a minute (762 conn/s instead
		// of 11,680 in one perf run).
		{"sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"},
	}
	// default.* is what each new tap inherits.
	for _, scope := range []string{"all", "default"} {
		steps = append(steps,
			[]string{"sysctl", "-qw", "net.ipv4.conf." + scope + ".send_redirects=0"},
			[]string{"sysctl", "-qw", "net.ipv4.conf." + scope + ".rp_filter=0"})
	}
	return runSteps(steps)
}

// TapPeer is the kernel side of a bin/dpdk process's tap (its --tap-peer
// flag): Configure gives it Prefix (and MTU) and brings it up. It runs once
// the process's DPDK port, and with it the tap, exists.
type TapPeer struct {
	Iface  string
	Prefix netip.Prefix // unset: Configure does nothing
	MTU    int          // 0: leave the kernel side's MTU alone
}

// Configure gives the tap's kernel side its address (and MTU) and brings
// it up; nothing when Prefix is unset.
func (p TapPeer) Configure() error {
	if !p.Prefix.IsValid() {
		return nil
	}
	steps := [][]string{{"ip", "addr", "add", p.Prefix.String(), "dev", p.Iface}}
	if p.MTU > 0 {
		// net_tap sets it too (rte_eth_dev_set_mtu); saying it here
		// keeps the two sides equal whatever the PMD does.
		steps = append(steps, []string{"ip", "link", "set", p.Iface, "mtu", strconv.Itoa(p.MTU)})
	}
	steps = append(steps, []string{"ip", "link", "set", p.Iface, "up"})
	if err := runSteps(steps); err != nil {
		return fmt.Errorf("--tap-peer: %w", err)
	}
	return nil
}

// runSteps runs configuration commands in order and stops at the first
// that fails.
func runSteps(steps [][]string) error {
	for _, s := range steps {
		if err := Run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Run runs a short configuration command and returns its output in the
// error when it fails.
func Run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Slot is one bin/dpdk process's share of the topology.
type Slot struct {
	Index  int
	Iface  string       // tap interface the process creates
	Kernel netip.Prefix // kernel side of the tap (the stack's gateway)
	Stack  netip.Prefix // the stack's own address
	pool   *Pool
}

// Flags are bin/dpdk's engine flags for this slot (impl-dpdk/cmd/dpdk).
func (s *Slot) Flags() []string {
	return []string{"--tap=" + s.Iface, "--ip=" + s.Stack.String(), "--gw=" + s.Kernel.Addr().String(), "--tap-peer=" + s.Kernel.String()}
}

// Addr is the stack's address.
func (s *Slot) Addr() string { return s.Stack.Addr().String() }

// Release returns the slot; call it after the process has exited (its
// tap is gone with it).
func (s *Slot) Release() {
	if s != nil && s.pool != nil {
		s.pool.free <- s.Index
	}
}

// Pool hands out slots; a full pool makes Acquire wait.
type Pool struct{ free chan int }

// NewPool returns a pool of n slots (at most Slots).
func NewPool(n int) *Pool {
	n = min(max(n, 1), Slots)
	p := &Pool{free: make(chan int, n)}
	for i := range n {
		p.free <- i
	}
	return p
}

// Acquire waits for a free slot.
func (p *Pool) Acquire(ctx context.Context) (*Slot, error) {
	select {
	case i := <-p.free:
		return slotAt(p, i), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("dpdknet: no free slot: %w", ctx.Err())
	}
}

func slotAt(p *Pool, i int) *Slot {
	base := netip.AddrFrom4([4]byte{192, 0, 2, byte(4*i + 1)})
	return &Slot{
		Index:  i,
		Iface:  fmt.Sprintf("nmtap%d", i),
		Kernel: netip.PrefixFrom(base, 30),
		Stack:  netip.PrefixFrom(base.Next(), 30),
		pool:   p,
	}
}
