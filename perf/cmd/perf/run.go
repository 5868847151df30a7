package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/perf/bench"
	"github.com/netmodels/netmodels/perf/report"
)

func cmdRun(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	suiteName := fs.String("suite", "default", "suite: default, full (every scenario), quick, smoke or scale")
	quick := fs.Bool("quick", false, "the quick suite (under 3 minutes)")
	smoke := fs.Bool("smoke", false, "the smoke suite (CI: proves the harness works)")
	scale := fs.Bool("scale", false, "the scale suite: the core sweep at every worker count 1 … nproc")
	repo := fs.String("repo", ".", "repository root")
	bin := fs.String("bin", "", "engine binaries (default REPO/bin)")
	engines := fs.String("engines", "", "comma-separated engines (default: every executable in --bin)")
	client := fs.String("client-engine", "goroutine", "engine whose msgr-client drives every msgr-server")
	results := fs.String("results", "", "results folder (default REPO/results)")
	pin := fs.Int("pin", 1, "CPU for pinned scenarios (-1: no pinning)")
	only := fs.String("only", "", "run only scenarios whose ID contains one of these comma-separated strings")
	reps := fs.Int("reps", 0, "override the suite's repetitions")
	dur := fs.Duration("duration", 0, "override the suite's repetition length")
	noPublish := fs.Bool("no-publish", false, "do not update results/latest and results/README.md")
	compareTo := fs.String("compare", "", "after the run, print the comparison with this earlier run (folder or run.json); never fails on noise")
	dpdkMTU := fs.Int("dpdk-mtu", 0, "bin/dpdk's port MTU (--mtu; e.g. 9000 for jumbo frames); 0 keeps its default, 1500")
	topology := fs.String("topology", "", "two-hosts: run the two-hosts scenarios across core/netsim's client and server namespaces (root), once per --net profile")
	nets := fs.String("net", "", "comma-separated link profiles for --topology (lan, dc, wan, lossy, bad; default lan)")
	noNet := fs.Bool("no-net", false, "leave out the suite's own two-hosts profiles (the default suite runs lan, lossy and wan after its one-host scenarios)")
	hostsFlag := fs.String("hosts", "", "client=ssh://USER@HOST[:PORT],server=ssh://USER@HOST[:PORT]: run the --hosts scenarios with the client and the servers on these hosts, through OpenSSH")
	sshConfig := fs.String("ssh-config", "", "with --hosts: ssh's and scp's configuration file (-F; default: the user's ~/.ssh/config)")
	baseline := fs.String("baseline", "", "also build the engines at this commit (git worktree under REPO/.cache/) and measure them in the same run, as ENGINE@REV beside ENGINE; then `perf compare RUN` judges the change")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	netProfiles, err := bench.ParseTopology(*topology, *nets)
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 2
	}
	hosts, err := bench.ParseHosts(*hostsFlag)
	switch {
	case err != nil:
	case hosts != nil && len(netProfiles) > 0:
		err = errors.New("--hosts and --topology exclude each other")
	case hosts == nil && *sshConfig != "":
		err = errors.New("--ssh-config needs --hosts")
	case *sshConfig != "":
		hosts.SSH.Args = []string{"-F", *sshConfig}
	}
	if err == nil && hosts != nil && *baseline != "" {
		// --hosts copies the engines to the hosts under their own names.
		err = errors.New("--baseline and --hosts exclude each other")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 2
	}
	if *quick {
		*suiteName = "quick"
	}
	if *smoke {
		*suiteName = "smoke"
	}
	if *scale {
		*suiteName = "scale"
	}
	suite, ok := bench.Suites[*suiteName]
	if !ok {
		fmt.Fprintf(os.Stderr, "perf run: unknown suite %q\n", *suiteName)
		return 2
	}
	if *reps > 0 {
		// Every scenario, the ramps too (RampSpec.Reps).
		suite.Reps = *reps
		suite.Ramp = suite.RampSpec()
		suite.Ramp.Reps = 0
	}
	if *dur > 0 {
		suite.Duration, suite.UserspaceDuration, suite.UserspaceStreamDuration = *dur, 0, 0
	}
	if *bin == "" {
		*bin = filepath.Join(*repo, "bin")
	}
	if *results == "" {
		*results = filepath.Join(*repo, "results")
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 1
	}
	work, err := os.MkdirTemp("", "perf-run-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 1
	}
	defer os.RemoveAll(work)
	absBin, _ := filepath.Abs(*bin)
	if *baseline != "" && *bin == filepath.Join(*repo, "bin") {
		// The new side of a comparison is the working tree: build it as
		// make bench does, so that a fresh clone works and a stale bin/
		// is never measured as "the change".
		cmd := exec.CommandContext(ctx, "make", "-s", "build")
		cmd.Dir, cmd.Stdout, cmd.Stderr = *repo, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "perf run: --baseline: make build in %s: %v\n", *repo, err)
			return 1
		}
	}
	// The where-the-time-goes profiles are kept beside run.json.
	profiles := filepath.Join(work, "profiles")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 1
	}
	cfg := bench.Config{Suite: suite, BinDir: absBin, ClientEngine: *client, Self: self, PinCPU: *pin, WorkDir: work, ProfileDir: profiles, Net: netProfiles, NoNet: *noNet, Hosts: hosts}
	if *engines != "" {
		cfg.Engines = strings.Split(*engines, ",")
	}
	// A two-hosts run stays in the host's namespace: core/netsim makes
	// its own, and bin/dpdk runs in the server one with a tap slot whose
	// addresses exist only there (spec/topology.md, "bin/dpdk on a side").
	// Without root netsim cannot be built and every cell is absent.
	// A --hosts run places nothing here (bin/dpdk is absent there).
	if len(netProfiles) > 0 && os.Geteuid() == 0 && bench.NeedsTopology(absBin, cfg.Engines) {
		cfg.DPDK = &bench.DPDKConfig{Slots: dpdknet.NewPool(8), MTU: *dpdkMTU}
	}
	if len(netProfiles) == 0 && hosts == nil && bench.NeedsTopology(absBin, cfg.Engines) {
		// bin/dpdk's stack is reachable only through its tap: the whole
		// run goes into core/dpdknet's namespace, as the conformance
		// suite does, so every target shares one network setup.
		if !dpdknet.InNetns() {
			code, err := dpdknet.Reexec()
			if err == nil {
				return code
			}
			if !errors.Is(err, dpdknet.ErrNeedRoot) {
				fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
				return 1
			}
			// Not root: the kernel engines are still worth measuring;
			// the dpdk cells say why they are absent.
			cfg.NoDPDK = err.Error()
			fmt.Fprintf(os.Stderr, "perf run: dpdk targets absent: %v\n", err)
		} else {
			if err := dpdknet.Setup(); err != nil {
				fmt.Fprintf(os.Stderr, "perf run: dpdk topology: %v\n", err)
				return 1
			}
			cfg.Host = dpdknet.HostIP
			// A scenario holds at most one bin/dpdk process over tap per
			// dpdk target at a time (two with dpdk-spin); a few spare.
			cfg.DPDK = &bench.DPDKConfig{Slots: dpdknet.NewPool(8), MTU: *dpdkMTU}
		}
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *baseline != "" {
		b, err := bench.PrepareBaseline(ctx, *repo, *baseline, cfg.Engines, func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "perf run: "+format+"\n", args...)
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
			return 1
		}
		// Removed however the run ends (an interrupt too: ctx only
		// cancels, cmdRun still returns through here).
		defer func() {
			if err := b.Remove(); err != nil {
				fmt.Fprintf(os.Stderr, "perf run: baseline %s: remove its worktree: %v\n", b.Rev, err)
			}
		}()
		cfg.Baseline = b
	}
	prog := newProgress(os.Stderr)
	cfg.Progress = prog
	t0 := time.Now()
	run, err := bench.Run(ctx, cfg, *repo)
	prog.Done()
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf run: %v\n", err)
		return 1
	}
	run.Command = "perf run " + strings.Join(args, " ")
	dir := filepath.Join(*results, run.ID)
	if err := copyFiles(profiles, dir); err != nil {
		fmt.Fprintf(os.Stderr, "perf run: keep the CPU profiles: %v\n", err)
		return 1
	}
	if err := report.Write(run, dir); err != nil {
		fmt.Fprintf(os.Stderr, "perf run: write %s: %v\n", dir, err)
		return 1
	}
	if !*noPublish {
		if err := report.Publish(run, *results, dir); err != nil {
			fmt.Fprintf(os.Stderr, "perf run: publish: %v\n", err)
			return 1
		}
		publishSummaryPNG(ctx, "perf run", filepath.Join(*results, "latest"))
	}
	nOK, failed, absent := 0, 0, 0
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			switch c.Status {
			case "ok":
				nOK++
			case "failed":
				failed++
			default:
				absent++
			}
		}
	}
	fmt.Fprintf(os.Stderr, "perf run: %s suite in %v: %d scenarios, cells ok %d, failed %d, absent %d\n",
		suite.Name, time.Since(t0).Round(time.Second), len(run.Scenarios), nOK, failed, absent)
	fmt.Println(filepath.Join(dir, "report.md"))
	if run.Baseline != nil {
		// Judged within the run: each ENGINE@REV against ENGINE.
		writeBaselineComparison(os.Stdout, run)
		fmt.Printf("(perf compare --fail-on PCT %s gates on it.)\n", dir)
	}
	if *compareTo != "" {
		if old, err := loadRun(*compareTo); err != nil {
			fmt.Fprintf(os.Stderr, "perf run: compare: %v\n", err)
		} else {
			report.WriteCalibrationWarning(os.Stdout, old, run)
			report.WriteComparison(os.Stdout, old.ID, run.ID, report.Compare(old, run))
			report.WriteRatioChanges(os.Stdout, report.CompareRatios(old, run))
		}
	}
	// Failed cells are results (an engine that does not work yet), not a
	// harness failure: exit 0 unless the harness itself broke.
	if ctx.Err() != nil {
		return 130
	}
	if len(run.HarnessErrors) > 0 {
		for _, e := range run.HarnessErrors {
			fmt.Fprintln(os.Stderr, "perf run:", e)
		}
		return 1
	}
	return 0
}

// copyFiles copies every regular file of src into dst (created).
func copyFiles(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
