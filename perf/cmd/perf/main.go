// Command perf is the netmodels performance harness: `perf run` measures
// every built engine and the anchors (raw TCP, HAProxy, ceph-mon) and
// writes results/<UTC date-time>/; `perf compare OLD NEW` tells what
// changed, with a significance test. The other subcommands are its helper
// processes (raw server, load generators).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  perf run [--quick | --smoke | --scale | --suite NAME] [--bin DIR] [--engines a,b] [--client-engine NAME]
           [--results DIR] [--pin CPU] [--only SUBSTR,...] [--reps N] [--duration D] [--no-publish]
           [--compare OLD_RUN] [--baseline REV] [--dpdk-mtu N]
           [--topology two-hosts [--net PROFILE,...]]
           [--hosts client=ssh://USER@HOST[:PORT],server=ssh://USER@HOST[:PORT] [--ssh-config FILE]]
  perf compare [--fail-on PCT] OLD NEW  (run folders or run.json files; warns when their calibrations differ > 10 %)
  perf compare [--fail-on PCT] RUN      (a --baseline run: each ENGINE@REV, old, against ENGINE, new)
              (--fail-on: exit 1 when a headline metric is significantly worse by more than PCT %;
               exit 2 on a usage or read error)
  perf report [--html] RUN_DIR (regenerate report.md and charts from run.json; index.html for latest or with --html)
  perf soak [--duration D] [--engines a,b] [--bin DIR] [--out DIR]
              (messenger under injected failures and proxy across backend restarts, every engine; results/soak/)
  perf rawtcp-server [--listen HOST] [--echo-port N]
  perf loadgen pingpong|ka-pipeline|stream|connrate|idle|tls-handshake|tls-stream|tls-idle [flags]
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var code int
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		code = cmdRun(ctx, args)
	case "compare":
		code = cmdCompare(args)
	case "report":
		code = cmdReport(args)
	case "soak":
		code = cmdSoak(ctx, args)
	case "rawtcp-server":
		code = cmdRawServer(ctx, args)
	case "loadgen":
		code = cmdLoadgen(ctx, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "perf: unknown command %q\n%s", os.Args[1], usage)
		code = 2
	}
	os.Exit(code)
}
