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
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	dpdkengine "github.com/netmodels/netmodels/impl-dpdk"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"

	"github.com/netmodels/netmodels/core/cli"
	"github.com/netmodels/netmodels/core/dpdknet"
)

func main() { os.Exit(run()) }

func run() int {
	args := os.Args[1:]
	if len(args) > 0 && args[0] != "version" && args[0] != "help" && !strings.HasPrefix(args[0], "-") && !rte.Available {
		fmt.Fprintln(os.Stderr, dpdkengine.ErrNotBuilt)
		return cli.ExitUsage
	}
	opts, peer, rest, err := engineFlags(args)
	if err == nil {
		// The first engine starts the runtime, and with it the tap; its
		// kernel side is configured then. A failure there, as any runtime
		// start failure (EAL, port), is New's error: the CLI prints it on
		// one line and exits 2.
		opts.OnStart = peer.Configure
		err = dpdkengine.Configure(opts)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dpdk: %v\n", err)
		return cli.ExitUsage
	}
	os.Args = append(os.Args[:1], rest...)
	code := cli.Main(cli.Engine{Name: dpdkengine.Name, LibVersion: dpdkengine.LibVersion, New: dpdkengine.New})
	dpdkengine.Teardown()
	return code
}

// engineFlags takes the engine flags out of args: the runtime's options
// (over the NETMODELS_DPDK_* variables) and the tap's kernel side
// (--tap-peer, on --tap's interface with --mtu's MTU).
func engineFlags(args []string) (o dpdkengine.Options, peer dpdknet.TapPeer, rest []string, err error) {
	peer.Iface = "dtap0"
	if o, err = dpdkengine.OptionsFromEnv(); err != nil {
		return o, peer, nil, err
	}
	ealSet, memif := false, ""
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			rest = append(rest, a)
			continue
		}
		switch k {
		case "--poll", "--eal", "--ip", "--gw":
			if err := o.Set(k[2:], v); err != nil {
				return o, peer, nil, fmt.Errorf("%s: %w", k, err)
			}
			ealSet = ealSet || k == "--eal"
		case "--tap":
			if v == "" || strings.ContainsAny(v, ", =") {
				return o, peer, nil, fmt.Errorf("--tap: bad interface name %q", v)
			}
			peer.Iface = v
			if !ealSet {
				o.EAL = dpdkengine.DefaultEAL(dpdkengine.TapVdev(v))
			}
		case "--memif":
			role, sock, ok := strings.Cut(v, ",")
			if !ok || (role != "server" && role != "client") || sock == "" || strings.ContainsAny(sock, ", =") {
				return o, peer, nil, fmt.Errorf("--memif: want ROLE,SOCKET with ROLE server or client and a path without ',' '=' or spaces, got %q", v)
			}
			memif = fmt.Sprintf("net_memif0,role=%s,socket=%s,socket-abstract=no", role, sock)
			o.NoLinkWait = role == "server"
		case "--mtu":
			n, err := strconv.Atoi(v)
			if err != nil || n < 576 || n > 9600 {
				return o, peer, nil, fmt.Errorf("--mtu: want 576..9600, got %q", v)
			}
			o.MTU = n
		case "--tap-peer":
			if peer.Prefix, err = netip.ParsePrefix(v); err != nil || !peer.Prefix.Addr().Is4() {
				return o, peer, nil, fmt.Errorf("--tap-peer: want an IPv4 prefix such as 192.0.2.1/30, got %q", v)
			}
		default:
			rest = append(rest, a)
		}
	}
	peer.MTU = o.MTU
	if memif != "" {
		if !ealSet {
			// Above MTU 1500 memif's buffers (bsize, 2048 by default) are
			// made to hold a whole frame: with chained 2048-byte buffers
			// jumbo frames were lost and TCP stalled on retransmissions
			// (measured: 33 msg/s instead of 21000). Both ends must use
			// the same --mtu.
			if o.MTU > 1500 {
				memif += fmt.Sprintf(",bsize=%d", (o.MTU+14+4+1023)/1024*1024)
			}
			o.EAL = dpdkengine.DefaultEAL(memif)
		}
		// A point-to-point link: the peer is on-link, nothing routes.
		o.Gateway = netip.Addr{}
		if peer.Prefix.IsValid() {
			return o, peer, nil, fmt.Errorf("--tap-peer with --memif: a memif port has no kernel side")
		}
	}
	return o, peer, rest, nil
}
