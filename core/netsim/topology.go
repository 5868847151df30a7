package netsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/core/supervise"
	"golang.org/x/sys/unix"
)

// Addresses: one /30 of 198.51.100.0/24 (documentation, RFC 5737),
// client .9, server .10. Every Topology has namespaces of its own, so
// concurrent ones use the same addresses without meeting. The block
// avoids core/dpdknet's (192.0.2.0/24 for its taps, 198.51.100.1 and .2
// on lo): a bin/dpdk process joins either side with a dpdknet slot, and
// each side routes dpdknet.SlotBlock to the other (routeSlots).
var (
	ClientIP = netip.MustParseAddr("198.51.100.9")
	ServerIP = netip.MustParseAddr("198.51.100.10")
)

const (
	// PrefixLen is the link's prefix length.
	PrefixLen = 30
	// Iface is the link's interface in each namespace (a TAP device, or
	// a veth end for a Direct profile).
	Iface = "nsim0"
	// MTU is the link's MTU on both sides.
	MTU = 1500
	// NetnsPrefix starts the name of every namespace this package makes:
	// nsim-PID-N-client, nsim-PID-N-server. Nothing else is ever deleted.
	NetnsPrefix = "nsim-"
)

// ErrNeedRoot says why the topology cannot be built.
var ErrNeedRoot = errors.New("netsim: the two-namespace topology needs root (network namespaces and tap devices)")

var instances atomic.Uint64

// Topology is a client and a server network namespace joined by a link
// under a Profile. Make it with New, and Close it: Close stops the
// processes started on either side, closes the emulator (its TAP devices
// go with it) and deletes both namespaces (a veth pair goes with them).
type Topology struct {
	Profile Profile
	Seed    uint64
	Client  *Side
	Server  *Side

	emu    *Emulator
	mu     sync.Mutex
	procs  []*supervise.Proc
	closed bool
}

// Side is one namespace of a Topology.
type Side struct {
	Role  string // "client" or "server"
	Netns string // the namespace's name (ip netns)
	Addr  netip.Addr
	topo  *Topology
}

// New builds the topology under p; seed seeds the emulator's random
// source (the same seed, the same fate for the n-th frame each way). It
// first deletes namespaces that an earlier process of this package left
// behind when it died before Close (their PID, in the name, is gone).
func New(p Profile, seed uint64) (*Topology, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNeedRoot
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	SweepStale()
	base := fmt.Sprintf("%s%d-%d-", NetnsPrefix, os.Getpid(), instances.Add(1))
	t := &Topology{Profile: p, Seed: seed}
	t.Client = &Side{Role: "client", Netns: base + "client", Addr: ClientIP, topo: t}
	t.Server = &Side{Role: "server", Netns: base + "server", Addr: ServerIP, topo: t}
	if err := t.build(); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return t, nil
}

func (t *Topology) build() error {
	sides := []*Side{t.Client, t.Server}
	for _, s := range sides {
		if err := run("ip", "netns", "add", s.Netns); err != nil {
			return err
		}
		if err := run("ip", "-n", s.Netns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	if t.Profile.Direct {
		if err := run("ip", "-n", t.Client.Netns, "link", "add", Iface, "type", "veth", "peer", "name", Iface, "netns", t.Server.Netns); err != nil {
			return err
		}
	} else {
		var taps [2]*os.File
		for i, s := range sides {
			err := s.Do(func() (err error) {
				taps[i], err = openTAP(Iface)
				return err
			})
			if err != nil {
				if taps[0] != nil {
					taps[0].Close()
				}
				return err
			}
		}
		t.emu = NewEmulator(taps[0], taps[1], t.Profile, t.Seed)
	}
	for _, s := range sides {
		pfx := netip.PrefixFrom(s.Addr, PrefixLen).String()
		if err := run("ip", "-n", s.Netns, "link", "set", Iface, "mtu", strconv.Itoa(MTU), "up"); err != nil {
			return err
		}
		if err := run("ip", "-n", s.Netns, "addr", "add", pfx, "dev", Iface); err != nil {
			return err
		}
	}
	return t.routeSlots()
}

// routeSlots makes each side a router for bin/dpdk processes started in
// it (spec/topology.md, "bin/dpdk on a side"). Such a process creates its
// tap in the side's namespace and, with a core/dpdknet slot's flags, gives
// the tap's kernel side the slot's gateway address: the /30 is then a
// connected route of that side. Each side forwards IPv4 and routes the
// rest of dpdknet.SlotBlock to the other side's address, so a DPDK stack
// on one side and any process on the other reach each other across the
// link, each frame crossing it (and so the emulator) once; a kernel
// process on the same side reaches the stack through its tap alone.
// Redirects are off because a stack's connection to itself goes out
// through its tap and the kernel sends it back the same way (as in
// dpdknet's own namespace); reverse-path filtering is off as there.
func (t *Topology) routeSlots() error {
	for _, s := range []*Side{t.Client, t.Server} {
		peer := t.Server.Addr
		if s == t.Server {
			peer = t.Client.Addr
		}
		if err := run("ip", "netns", "exec", s.Netns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
			"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"); err != nil {
			return err
		}
		if err := run("ip", "-n", s.Netns, "route", "add", dpdknet.SlotBlock, "via", peer.String(), "dev", Iface); err != nil {
			return err
		}
	}
	return nil
}

// Counters are the emulator's counts, client to server then server to
// client; zero for a Direct profile.
func (t *Topology) Counters() (cs, sc Counters) {
	if t.emu == nil {
		return
	}
	return t.emu.Counters()
}

// Close stops what was started on either side, then the emulator, then
// deletes the namespaces; it is safe to call more than once. The order
// matters: a TAP device still open when its namespace goes would be moved
// to the host's namespace, so the devices are closed first.
func (t *Topology) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	procs := t.procs
	t.procs = nil
	t.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if t.emu != nil {
		errs = append(errs, t.emu.Close())
	}
	for _, s := range []*Side{t.Client, t.Server} {
		if _, err := os.Stat(filepath.Join("/run/netns", s.Netns)); err == nil {
			errs = append(errs, run("ip", "netns", "del", s.Netns))
		}
	}
	return errors.Join(errs...)
}

// Do runs fn on an OS thread that has entered the side's namespace
// (setns(2)), and returns its error. A socket belongs to the namespace it
// was made in for its whole life, so a listener or connection made in fn
// is used from any goroutine afterwards (Listen, Dial). fn must not
// start goroutines that make sockets: they run on other threads, outside
// the namespace.
//
// Why setns rather than `ip netns exec` here: the test or the harness
// keeps the socket in its own process, measured by its own clock, with
// no child in between. Whole programs go through Spec instead.
func (s *Side) Do(fn func() error) error {
	res := make(chan error, 1)
	go func() {
		// The thread is locked and never unlocked if it cannot go back:
		// the runtime then ends it with this goroutine, so no other
		// goroutine ever runs in the wrong namespace.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			res <- fmt.Errorf("netsim: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", s.Netns))
		if err != nil {
			res <- fmt.Errorf("netsim: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- fmt.Errorf("netsim: setns %s: %w", s.Netns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- errors.Join(ferr, fmt.Errorf("netsim: setns back from %s: %w", s.Netns, err))
			return
		}
		runtime.UnlockOSThread()
		res <- ferr
	}()
	return <-res
}

// Listen listens in the side's namespace (net.Listen's arguments).
func (s *Side) Listen(network, addr string) (l net.Listener, err error) {
	err = s.Do(func() error {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// Dial connects from the side's namespace.
func (s *Side) Dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	err = s.Do(func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Spec wraps sp so that the program runs in the side's namespace:
// `ip netns exec NETNS PROGRAM ARGS...`. ip enters the namespace and
// execs the program, so the PID supervise watches, signals and reads
// sockets of (WaitListening reads /proc/PID/net/tcp) is the program's
// own; ip also mounts a /sys of the namespace for it.
func (s *Side) Spec(sp supervise.Spec) supervise.Spec {
	if sp.Name == "" {
		sp.Name = filepath.Base(sp.Path)
	}
	sp.Name = s.Role + " " + sp.Name
	sp.Args = append([]string{"netns", "exec", s.Netns, sp.Path}, sp.Args...)
	sp.Path = "ip"
	return sp
}

// Start starts sp in the side's namespace (Spec) and stops it on the
// topology's Close, before the namespaces go.
func (s *Side) Start(sp supervise.Spec) (*supervise.Proc, error) {
	t := s.topo
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("netsim: topology closed")
	}
	p, err := supervise.Start(s.Spec(sp))
	if err != nil {
		return nil, err
	}
	t.procs = append(t.procs, p)
	return p, nil
}

// SweepStale deletes the namespaces named by this package (NetnsPrefix)
// whose creating process is gone: a test binary killed by its timeout
// never runs Close. A live creator's namespaces, and every namespace not
// named by this package, are left alone. It returns the names deleted.
func SweepStale() []string {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), NetnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue // alive (or not ours to ask): keep
		}
		if run("ip", "netns", "del", e.Name()) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}

// run runs a short configuration command (dpdknet.Run: its output is in
// the error).
func run(args ...string) error {
	if err := dpdknet.Run(args...); err != nil {
		return fmt.Errorf("netsim: %w", err)
	}
	return nil
}
