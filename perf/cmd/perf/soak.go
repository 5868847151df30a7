package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/perf/bench"
	"github.com/netmodels/netmodels/perf/soak"
)

// cmdSoak is `perf soak` (make soak DURATION=10m): perf/soak's package
// comment says what runs; perf/README.md, "Soak", what is measured and
// when it fails. Exit 0 when every engine passed, 1 on any failure, 2 on
// a usage error, 130 when interrupted.
func cmdSoak(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	repo := fs.String("repo", ".", "repository root")
	bin := fs.String("bin", "", "engine binaries (default REPO/bin)")
	engines := fs.String("engines", "", "comma-separated engines (default: every engine built in --bin; dpdk only as root)")
	dur := fs.Duration("duration", 10*time.Minute, "each engine's soak (the engines run one after another)")
	out := fs.String("out", "", "results folder (default REPO/results/soak)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *dur <= 0 {
		fmt.Fprint(os.Stderr, "usage: perf soak [--duration D] [--engines a,b] [--bin DIR] [--out DIR]\n")
		return 2
	}
	if *bin == "" {
		*bin = filepath.Join(*repo, "bin")
	}
	if *out == "" {
		*out = filepath.Join(*repo, "results", "soak")
	}
	absBin, _ := filepath.Abs(*bin)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf soak: %v\n", err)
		return 1
	}
	cfg := soak.Config{BinDir: absBin, Duration: *dur, Self: self, Host: "127.0.0.1", Log: os.Stderr}
	if *engines != "" {
		for _, e := range strings.Split(*engines, ",") {
			// dpdk-memif is a perf target, not a binary: the soak runs
			// bin/dpdk over tap.
			if e = strings.TrimSpace(e); e != "" && e != bench.DPDKMemif {
				cfg.Engines = append(cfg.Engines, e)
			}
		}
	} else {
		for _, ti := range bench.DiscoverEngines(absBin, nil) {
			if ti.Available && ti.Name != bench.DPDKMemif && (ti.Name != soak.DPDK || os.Geteuid() == 0) {
				cfg.Engines = append(cfg.Engines, ti.Name)
			}
		}
	}
	if len(cfg.Engines) == 0 {
		fmt.Fprintf(os.Stderr, "perf soak: no engine in %s (make build)\n", absBin)
		return 2
	}
	for _, e := range cfg.Engines {
		if _, err := os.Stat(filepath.Join(absBin, e)); err != nil {
			fmt.Fprintf(os.Stderr, "perf soak: %s: %v (make build)\n", e, err)
			return 2
		}
	}
	for _, e := range cfg.Engines {
		if e != soak.DPDK {
			continue
		}
		// bin/dpdk's stack is reachable only through its tap: the whole
		// soak goes into core/dpdknet's namespace, as perf run does.
		if !dpdknet.InNetns() {
			code, err := dpdknet.Reexec()
			if err != nil {
				fmt.Fprintf(os.Stderr, "perf soak: dpdk: %v (run as root, or choose --engines without dpdk)\n", err)
				if errors.Is(err, dpdknet.ErrNeedRoot) {
					return 2
				}
				return 1
			}
			return code
		}
		if err := dpdknet.Setup(); err != nil {
			fmt.Fprintf(os.Stderr, "perf soak: dpdk topology: %v\n", err)
			return 1
		}
		// msgr-server, msgr-client and proxy: three bin/dpdk at once.
		cfg.Host, cfg.Slots = dpdknet.HostIP, dpdknet.NewPool(4)
	}
	fmt.Fprintf(os.Stderr, "perf soak: %s, %v each (%v in all; at most %v more for draining and stopping)\n",
		strings.Join(cfg.Engines, ", "), cfg.Share(), cfg.Share()*time.Duration(len(cfg.Engines)), soak.Grace*time.Duration(len(cfg.Engines)))
	res, runErr := soak.Run(ctx, cfg)
	command := "perf soak " + strings.Join(args, " ")
	if err := soak.Write(res, *out, command); err != nil {
		fmt.Fprintf(os.Stderr, "perf soak: write %s: %v\n", *out, err)
		return 1
	}
	fmt.Println(filepath.Join(*out, "summary.md"))
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "perf soak: %v\n", runErr)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	if failed := res.Failed(); len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "perf soak: FAIL (%d):\n", len(failed))
		for _, f := range failed {
			fmt.Fprintf(os.Stderr, "  %s\n", f)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "perf soak: PASS: %s\n", strings.Join(cfg.Engines, ", "))
	return 0
}
