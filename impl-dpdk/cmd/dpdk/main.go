// Command dpdk is the netmodels binary on DPDK + gVisor netstack
// (spec/cli.md). Engine flags, accepted anywhere on the command line and
// removed before the shared CLI parses the rest:
//
//	--poll=spin|adaptive   poller idle policy (default adaptive)
//	--eal="ARGS"           rte_eal_init arguments (default: tap vdev dtap0)
//	--ip=PREFIX            the stack's address (default 192.0.2.2/24)
//	--gw=ADDR              the routing peer (default 192.0.2.1)
//
// Built without the dpdk tag, every command but version exits 2 with one
// line saying what is missing.
package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

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
	if err := dpdkengine.Configure(opts); err != nil {
		fmt.Fprintf(os.Stderr, "dpdk: %v\n", err)
		return cli.ExitUsage
	}
	os.Args = append(os.Args[:1], rest...)
	code := cli.Main(cli.Engine{Name: dpdkengine.Name, LibVersion: dpdkengine.LibVersion, New: newEngine})
	dpdkengine.Teardown()
	return code
}

// newEngine reports runtime start failures (EAL, port) as they are; the
// CLI prints them on one line and exits 2.
func newEngine(cfg engine.Config) (engine.Engine, error) { return dpdkengine.New(cfg) }

func engineFlags(args []string) (dpdkengine.Options, []string, error) {
	o, err := dpdkengine.OptionsFromEnv()
	if err != nil {
		return o, nil, err
	}
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
			o.EAL = strings.Fields(v)
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
	return o, rest, nil
}
