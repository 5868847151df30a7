package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/headless"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/rawtcp"
	"github.com/netmodels/netmodels/perf/report"
	"github.com/netmodels/netmodels/perf/result"
)

func loadRun(arg string) (*result.Run, error) {
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		arg = filepath.Join(arg, "run.json")
	}
	return result.Load(arg)
}

// cmdCompare: perf compare [--fail-on PCT] OLD NEW, or RUN alone for a
// --baseline run. Exit 0, or 1 when --fail-on finds a regression, 2 on a
// usage or read error. Without --fail-on noise never fails it.
func cmdCompare(args []string) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	failOn := fs.Float64("fail-on", -1, "exit 1 when a headline metric is significantly worse (Mann-Whitney U, α = 0.05) by more than this many percent")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: perf compare [--fail-on PCT] OLD NEW\n       perf compare [--fail-on PCT] RUN   (a perf run --baseline run: ENGINE@REV against ENGINE)\n")
		fs.PrintDefaults()
	}
	// Flags may come after the runs too (perf compare OLD NEW --fail-on 10).
	var runs []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		runs = append(runs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	gate := false
	fs.Visit(func(f *flag.Flag) { gate = gate || f.Name == "fail-on" })
	if gate && (*failOn < 0 || *failOn != *failOn) {
		fmt.Fprintf(os.Stderr, "perf compare: --fail-on %v: want a percentage >= 0\n", *failOn)
		return 2
	}
	if len(runs) < 1 || len(runs) > 2 {
		fs.Usage()
		return 2
	}
	var loaded []*result.Run
	for _, a := range runs {
		r, err := loadRun(a)
		if err != nil {
			fmt.Fprintf(os.Stderr, "perf compare: %v\n", err)
			return 2
		}
		loaded = append(loaded, r)
	}
	var cs []report.Change
	var un []report.Unpaired
	if len(loaded) == 1 {
		run := loaded[0]
		if run.Baseline == nil && len(report.BaselineTargets(run)) == 0 {
			fmt.Fprintf(os.Stderr, "perf compare: %s has no ENGINE@REV targets (perf run --baseline REV makes them); give two runs to compare them\n", runs[0])
			return 2
		}
		cs, un = writeBaselineComparison(os.Stdout, run)
	} else {
		old, nw := loaded[0], loaded[1]
		report.WriteCalibrationWarning(os.Stdout, old, nw)
		cs = report.Compare(old, nw)
		report.WriteComparison(os.Stdout, old.ID, nw.ID, cs)
		report.WriteRatioChanges(os.Stdout, report.CompareRatios(old, nw))
		un = report.UnpairedRuns(old, nw)
	}
	if !gate {
		return 0
	}
	if len(runs) == 2 {
		// The two-run table has always left these out; the gate says them.
		report.WriteUnpaired(os.Stdout, un)
	}
	if report.WriteVerdict(os.Stdout, cs, un, *failOn) {
		return 1
	}
	return 0
}

// writeBaselineComparison prints a --baseline run's own comparison: each
// ENGINE@REV (old) against ENGINE (new), and the pairs that could not be
// compared.
func writeBaselineComparison(w io.Writer, run *result.Run) ([]report.Change, []report.Unpaired) {
	oldName := "baseline"
	if b := run.Baseline; b != nil {
		oldName = fmt.Sprintf("%s@%s (%s)", run.ID, b.Rev, shortHash(b.Commit))
	}
	newName := fmt.Sprintf("%s (%s)", run.ID, shortHash(run.Machine.Commit))
	if run.Machine.Dirty {
		newName = fmt.Sprintf("%s (%s, working tree modified)", run.ID, shortHash(run.Machine.Commit))
	}
	cs := report.CompareBaseline(run)
	un := report.UnpairedBaseline(run)
	fmt.Fprintln(w)
	report.WriteComparison(w, oldName, newName, cs)
	report.WriteUnpaired(w, un)
	return cs, un
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func cmdReport(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	withHTML := fs.Bool("html", false, "also write index.html (always written for a folder named latest)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(os.Stderr, "usage: perf report [--html] RUN_DIR\n")
		return 2
	}
	dir := fs.Arg(0)
	run, err := loadRun(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf report: %v\n", err)
		return 1
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		dir = filepath.Dir(dir)
	}
	html := *withHTML || filepath.Base(filepath.Clean(dir)) == "latest"
	if err := report.Render(run, dir, html); err != nil {
		fmt.Fprintf(os.Stderr, "perf report: %v\n", err)
		return 1
	}
	if filepath.Base(filepath.Clean(dir)) == "latest" {
		publishSummaryPNG(context.Background(), "perf report", dir)
	}
	return 0
}

// publishSummaryPNG writes dir/summary.png (the published page's summary,
// shot in headless Chromium) and prints what the page check found wrong.
// Neither a missing Chromium nor a failed shot fails the run: its results
// are written already; the log says why there is no summary.png.
func publishSummaryPNG(ctx context.Context, who, dir string) {
	problems, err := report.WriteSummaryPNG(ctx, dir)
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "%s: report page: %s\n", who, p)
	}
	switch {
	case errors.Is(err, headless.ErrNotFound):
		fmt.Fprintf(os.Stderr, "%s: no summary.png: %v\n", who, err)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: summary.png: %v\n", who, err)
	default:
		fmt.Fprintf(os.Stderr, "%s: wrote %s\n", who, filepath.Join(dir, "summary.png"))
	}
}

func cmdRawServer(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("rawtcp-server", flag.ContinueOnError)
	host := fs.String("listen", "127.0.0.1", "host to bind (ports are chosen by the kernel)")
	echoPort := fs.Int("echo-port", 0, "the echo listener's port (0: chosen by the kernel)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s, err := rawtcp.ListenEchoPort(*host, *echoPort)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rawtcp-server: %v\n", err)
		return 2
	}
	// READY <echo> <sink> <txn>, the same convention as the engines.
	fmt.Printf("READY %s\n", strings.Join(s.Addrs(), " "))
	s.Serve(ctx)
	return 0
}

func cmdLoadgen(ctx context.Context, args []string) int {
	if len(args) < 1 {
		fmt.Fprint(os.Stderr, "usage: perf loadgen pingpong|ka-pipeline|stream|connrate|idle|conns|tls-handshake|tls-stream|tls-idle [flags]\n")
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("loadgen "+kind, flag.ContinueOnError)
	addr := fs.String("addr", "", "server address host:port")
	conns := fs.Int("conns", 1, "connections")
	size := fs.Int("size", 64, "request size in bytes (pingpong)")
	protocol := fs.String("protocol", "raw", "pingpong: raw | ka | ka2 (msgr2; --addr v2:IP:PORT/NONCE) | ka-raw")
	peerType := fs.String("peer-type", "osd", "ka2: the server's entity type, osd or mon (mon: ask for a global_id)")
	msgrProto := fs.Uint("msgr-proto", 24, "msgr1 sub-protocol version offered first (24 OSD, 15 MON)")
	rate := fs.Float64("rate", 0, "open loop: total intended requests per second (0 = closed loop)")
	window := fs.Int("window", 4096, "ka-pipeline: frames in flight")
	batch := fs.Int("batch", 128, "ka-pipeline: frames per write")
	streams := fs.Int("streams", 1, "stream: parallel streams")
	bufsize := fs.Int("bufsize", 256<<10, "stream: bytes per write")
	loops := fs.Int("loops", 8, "connrate: parallel loops")
	n := fs.Int("n", 100, "idle: connections to hold")
	parallel := fs.Int("parallel", 1, "idle: connections opened at once")
	sources := fs.String("sources", "", "conns: local IP addresses to bind, comma-separated (spread over the connections)")
	senders := fs.Int("senders", 32, "conns: concurrent senders of a phase")
	tlsVersion := fs.String("tls-version", loadgen.TLS13, "tls-*: TLS version, 1.3 or 1.2 (full handshakes, no resumption)")
	warmup := fs.Duration("warmup", 0, "warm-up, not recorded")
	duration := fs.Duration("duration", time.Second, "measured time")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "loadgen: --addr is required")
		return 2
	}
	if *peerType != "osd" && *peerType != "mon" {
		fmt.Fprintf(os.Stderr, "loadgen: --peer-type %q: want osd or mon\n", *peerType)
		return 2
	}
	var tlsCfg *tls.Config
	if strings.HasPrefix(kind, "tls-") {
		c, err := loadgen.ClientTLS(*tlsVersion)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 2
		}
		tlsCfg = c
	}
	var res loadgen.Result
	switch kind {
	case "pingpong":
		res = loadgen.RunPingPong(ctx, loadgen.PingPong{Addr: *addr, Conns: *conns, Size: *size, Protocol: *protocol,
			MsgrProto: uint32(*msgrProto), PeerType: strings.TrimPrefix(*peerType, "osd"), Warmup: *warmup, Duration: *duration, Rate: *rate})
	case "ka-pipeline":
		if *protocol == "raw" {
			*protocol = "ka"
		}
		res = loadgen.RunPipeline(ctx, loadgen.Pipeline{Addr: *addr, Protocol: *protocol, MsgrProto: uint32(*msgrProto),
			Window: *window, Batch: *batch, Warmup: *warmup, Duration: *duration})
	case "stream":
		res = loadgen.RunStream(ctx, loadgen.Stream{Addr: *addr, Streams: *streams, BufSize: *bufsize, Warmup: *warmup, Duration: *duration})
	case "tls-stream":
		res = loadgen.RunStream(ctx, loadgen.Stream{Addr: *addr, Streams: *streams, BufSize: *bufsize, Warmup: *warmup, Duration: *duration, TLS: tlsCfg})
	case "tls-handshake":
		res = loadgen.RunTLSHandshake(ctx, loadgen.TLSHandshake{Addr: *addr, Conns: *conns, Version: *tlsVersion, Warmup: *warmup, Duration: *duration})
	case "connrate":
		res = loadgen.RunConnRate(ctx, loadgen.ConnRate{Addr: *addr, Loops: *loops, Warmup: *warmup, Duration: *duration})
	case "conns":
		// --addr may list several destinations (comma-separated).
		var src []string
		if *sources != "" {
			src = strings.Split(*sources, ",")
		}
		res = loadgen.ServeConns(ctx, loadgen.Conns{Addrs: strings.Split(*addr, ","), Sources: src, N: *n, Parallel: *parallel,
			Size: *size, Rate: *rate, Senders: *senders}, os.Stdin, os.Stdout)
	case "idle", "tls-idle":
		ic := loadgen.OpenIdle(loadgen.Idle{Addr: *addr, N: *n, TLS: tlsCfg, Parallel: *parallel})
		if ic.Res.Err == "" {
			fmt.Printf("HOLDING %d\n", ic.Res.Ops)
			os.Stdout.Sync()
			// Hold until the harness closes our stdin (it measured).
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		}
		ic.Close()
		res = ic.Res
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown kind %q\n", kind)
		return 2
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if res.Err != "" {
		fmt.Fprintln(os.Stderr, "loadgen:", strings.TrimSpace(res.Err))
		return 1
	}
	return 0
}
