// Command netsim holds a two-host topology (core/netsim, spec/topology.md)
// for as long as it runs:
//
//	netsim up --profile NAME [--seed N]
//
// makes a client and a server network namespace joined by a link under
// the profile, prints one line on stdout,
//
//	READY client NETNS 198.51.100.9 server NETNS 198.51.100.10
//
// and holds them until SIGTERM or SIGINT; then it stops the link, deletes
// both namespaces, writes the link's counters on stderr and exits 0. Run
// programs on either side with `ip netns exec NETNS ...`. Needs root.
// As the engines' long-running commands (spec/cli.md): a bad flag exits 2
// before READY, logs go to stderr prefixed "netsim:".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/netmodels/netmodels/core/netsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func usage() string {
	return "usage: netsim up --profile NAME [--seed N]   (profiles: " + strings.Join(netsim.ProfileNames(), ", ") + ")\n"
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprint(stderr, usage())
		return 2
	}
	fs := flag.NewFlagSet("netsim up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("profile", "", "network-condition profile")
	seed := fs.Uint64("seed", 1, "seed of the link's random source (the same seed replays the same fates)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *name == "" {
		fmt.Fprint(stderr, usage())
		return 2
	}
	p, err := netsim.ParseProfile(*name)
	if err != nil {
		fmt.Fprintln(stderr, "netsim:", err)
		return 2
	}
	topo, err := netsim.New(p, *seed)
	if err != nil {
		fmt.Fprintln(stderr, "netsim:", err)
		return 1
	}
	fmt.Fprintf(stderr, "netsim: %v, seed %d\n", p, *seed)
	fmt.Fprintf(stdout, "READY client %s %s server %s %s\n", topo.Client.Netns, topo.Client.Addr, topo.Server.Netns, topo.Server.Addr)
	<-ctx.Done()
	cs, sc := topo.Counters()
	err = topo.Close()
	fmt.Fprintf(stderr, "netsim: client→server %+v\nnetsim: server→client %+v\n", cs, sc)
	if err != nil {
		fmt.Fprintln(stderr, "netsim: teardown:", err)
		return 1
	}
	return 0
}
