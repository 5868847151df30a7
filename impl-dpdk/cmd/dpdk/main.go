// Command dpdk is the netmodels binary on DPDK + gVisor netstack
// (spec/cli.md). Engine flags, accepted anywhere on the command line and
// removed before the shared CLI parses the rest:
//
//	--poll=spin|adaptive   poller idle policy (default adaptive)
//	--eal="ARGS"           rte_eal_init arguments (default: tap vdev dtap0)
//	--ip=PREFIX            the stack's address (default 192.0.2.2/24)
//	--gw=ADDR              the routing peer (default 192.0.2.1)
//	--tap=IFACE            shorthand for the default EAL arguments on a
//	                       net_tap vdev named IFACE (default dtap0)
//	--tap-peer=PREFIX      give the tap's kernel side this address and bring
//	                       it up (`ip`), before READY; needs root in a
//	                       namespace of the caller's (core/dpdknet)
//	--mtu=N                the port's and the stack's IP MTU (default 1500);
//	                       with --tap-peer the kernel side gets it too
//	--memif=ROLE,SOCKET    shorthand for the default EAL arguments on a
//	                       net_memif vdev (ROLE server or client, SOCKET a
//	                       file path) and no gateway: two processes joined
//	                       with no kernel on the data path. A server does not
//	                       wait for its peer before READY; start the client
//	                       once the server's socket exists.
//
// Built without the dpdk tag, every command but version exits 2 with one
// line saying what is missing.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	dpdkengine "github.com/netmodels/netmodels/impl-dpdk"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"

	"github.com/netmodels/netmodels/core/cli"
	"github.com/netmodels/netmodels/core/engine"
)

func main() { os.Exit(run()) }

func run() int {
	args := os.Args[1:]
	if len(args) > 0 && args[0] != "version" && args[0] != "help" && !strings.HasPrefix(args[0], "-") && !rte.Available {
		fmt.Fprintln(os.Stderr, dpdkengine.ErrNotBuilt)
		return cli.ExitUsage
	}
	opts, rest, err := engineFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dpdk: %v\n", err)
		return cli.ExitUsage
	}
	if err := dpdkengine.Configure(opts.Options); err != nil {
		fmt.Fprintf(os.Stderr, "dpdk: %v\n", err)
		return cli.ExitUsage
	}
	os.Args = append(os.Args[:1], rest...)
	code := cli.Main(cli.Engine{Name: dpdkengine.Name, LibVersion: dpdkengine.LibVersion, New: newEngine(opts.tapPeer)})
	dpdkengine.Teardown()
	return code
}

// tapPeerConf is --tap-peer: the tap's kernel side.
type tapPeerConf struct {
	iface  string
	prefix netip.Prefix
	mtu    int // 0: leave the kernel side's MTU alone
}

// newEngine returns the CLI's engine constructor. It reports runtime start
// failures (EAL, port) as they are; the CLI prints them on one line and
// exits 2. The first engine starts the runtime (and with it the tap); the
// tap's kernel side is configured then, so a client's first SYN or a
// listener's READY already has a peer.
func newEngine(peer tapPeerConf) func(engine.Config) (engine.Engine, error) {
	configurePeer := sync.OnceValue(func() error { return configureTapPeer(peer) })
	return func(cfg engine.Config) (engine.Engine, error) {
		e, err := dpdkengine.New(cfg)
		if err != nil {
			return nil, err
		}
		if err := configurePeer(); err != nil {
			_ = e.Shutdown(context.Background())
			return nil, err
		}
		return e, nil
	}
}

// configureTapPeer gives the tap's kernel side its address (and MTU) and
// brings it up; nothing without --tap-peer.
func configureTapPeer(c tapPeerConf) error {
	if !c.prefix.IsValid() {
		return nil
	}
	steps := [][]string{{"addr", "add", c.prefix.String(), "dev", c.iface}}
	if c.mtu > 0 {
		// net_tap sets it too (rte_eth_dev_set_mtu); saying it here
		// keeps the two sides equal whatever the PMD does.
		steps = append(steps, []string{"link", "set", c.iface, "mtu", strconv.Itoa(c.mtu)})
	}
	steps = append(steps, []string{"link", "set", c.iface, "up"})
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("--tap-peer: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

type flagOpts struct {
	dpdkengine.Options
	tapPeer tapPeerConf
}

func engineFlags(args []string) (flagOpts, []string, error) {
	env, err := dpdkengine.OptionsFromEnv()
	o := flagOpts{Options: env}
	if err != nil {
		return o, nil, err
	}
	iface, ealSet, memif, memifRole, memifSock := "dtap0", false, false, "", ""
	var rest []string
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			rest = append(rest, a)
			continue
		}
		switch k {
		case "--poll":
			if o.Poll, err = link.ParsePollMode(v); err != nil {
				return o, nil, err
			}
		case "--eal":
			o.EAL, ealSet = strings.Fields(v), true
		case "--tap":
			if v == "" || strings.ContainsAny(v, ", =") {
				return o, nil, fmt.Errorf("--tap: bad interface name %q", v)
			}
			iface = v
			if !ealSet {
				o.EAL = dpdkengine.DefaultEAL(v)
			}
		case "--memif":
			role, sock, ok := strings.Cut(v, ",")
			if !ok || (role != "server" && role != "client") || sock == "" || strings.ContainsAny(sock, ", =") {
				return o, nil, fmt.Errorf("--memif: want ROLE,SOCKET with ROLE server or client and a path without ',' '=' or spaces, got %q", v)
			}
			memif, memifRole, memifSock = true, role, sock
			o.NoLinkWait = role == "server"
		case "--mtu":
			n, err := strconv.Atoi(v)
			if err != nil || n < 576 || n > 9600 {
				return o, nil, fmt.Errorf("--mtu: want 576..9600, got %q", v)
			}
			o.MTU = n
		case "--tap-peer":
			if o.tapPeer.prefix, err = netip.ParsePrefix(v); err != nil || !o.tapPeer.prefix.Addr().Is4() {
				return o, nil, fmt.Errorf("--tap-peer: want an IPv4 prefix such as 192.0.2.1/30, got %q", v)
			}
		case "--ip":
			if o.Addr, err = netip.ParsePrefix(v); err != nil {
				return o, nil, fmt.Errorf("--ip: %w", err)
			}
		case "--gw":
			if o.Gateway, err = netip.ParseAddr(v); err != nil {
				return o, nil, fmt.Errorf("--gw: %w", err)
			}
		default:
			rest = append(rest, a)
		}
	}
	o.tapPeer.iface = iface
	o.tapPeer.mtu = o.MTU
	if memif {
		if !ealSet {
			o.EAL = memifEAL(memifRole, memifSock, o.MTU)
		}
		// A point-to-point link: the peer is on-link, nothing routes.
		o.Gateway = netip.Addr{}
		if o.tapPeer.prefix.IsValid() {
			return o, nil, fmt.Errorf("--tap-peer with --memif: a memif port has no kernel side")
		}
	}
	return o, rest, nil
}

// memifEAL is DefaultEAL with a net_memif vdev instead of net_tap. Above
// MTU 1500 memif's buffers (bsize, 2048 by default) are made to hold a
// whole frame: with chained 2048-byte buffers jumbo frames were lost and
// TCP stalled on retransmissions (measured: 33 msg/s instead of 21000).
// Both ends must use the same --mtu.
func memifEAL(role, sock string, mtu int) []string {
	eal := dpdkengine.DefaultEAL("unused")
	vdev := fmt.Sprintf("--vdev=net_memif0,role=%s,socket=%s,socket-abstract=no", role, sock)
	if mtu > 1500 {
		vdev += fmt.Sprintf(",bsize=%d", (mtu+14+4+1023)/1024*1024)
	}
	eal[len(eal)-1] = vdev
	return eal
}
