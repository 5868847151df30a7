package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/promscrape"
	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// fakeClientHist is the fake msgr-client's round trips, as msgr-client
// encodes them: 100 ECHOs, 50 at 40 µs, 40 at 50 µs, 9 at 60 µs, 1 at 80 µs.
var fakeClientHist = func() string {
	h := msgrjson.NewHist()
	for us, n := range map[time.Duration]int64{40: 50, 50: 40, 60: 9, 80: 1} {
		_ = h.RecordValues(int64(us*time.Microsecond), n)
	}
	s, err := msgrjson.EncodeHist(h)
	if err != nil {
		panic(err)
	}
	return s
}()

// fakeClientLine is the fake msgr-client's summary (msgrjson.Summary).
var fakeClientLine = `{"engine":"fake","conns":1,"depth":1,"size":4096,"sent":100,"received":100,"errors":0,"seconds":0.05,"msgs_per_s":2000,"bytes_per_s":8192000,"rtt_us":{"p50":40,"p90":50,"p99":60,"p999":70,"max":80},"hist":"` + fakeClientHist + `","unanswered":0}`

// fakeEngine follows the CLI contract just far enough to exercise the
// runner: its msgr-server prints READY and idles, its msgr-client prints
// a contract-shaped JSON line, its proxy refuses to start (exit 2).
// `msgr-server -h` (DiscoverEngines reads the flags) exits at once: idling
// there cost each fake engine DiscoverEngines's 10 s timeout per run.
var fakeEngine = `#!/bin/sh
case "$1" in
version) echo "fake 0.0.1";;
msgr-server) [ "$2" = -h ] && exit 0; echo "READY 127.0.0.1:9"; exec sleep 60;;
msgr-client) echo '` + fakeClientLine + `';;
proxy) echo "fake: proxy: not implemented" >&2; exit 2;;
*) exit 2;;
esac
`

// perfBinary is the perf command, built once for the tests that run the
// harness as a whole (it re-executes itself for some scenarios).
var perfBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "perf-bench-test")
	if err != nil {
		return "", err
	}
	self := filepath.Join(dir, "perf")
	if out, err := exec.Command("go", "build", "-o", self, "github.com/netmodels/netmodels/perf/cmd/perf").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build perf: %v\n%s", err, out)
	}
	return self, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if self, err := perfBinary(); err == nil {
		os.RemoveAll(filepath.Dir(self))
	}
	os.Exit(code)
}

// harnessDir returns a temporary work directory, the perf binary and a bin
// directory holding the given fake engines (name -> shell script).
func harnessDir(t *testing.T, engines map[string]string) (dir, self, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the perf binary")
	}
	self, err := perfBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, script := range engines {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, self, bin
}

func TestRunnerWithFakeEngine(t *testing.T) {
	unsup := "#!/bin/sh\n[ \"$1\" = version ] && { echo unsup 1; exit 0; }\necho 'unsup: built without FOO support' >&2; exit 2\n"
	dir, self, bin := harnessDir(t, map[string]string{"fake": fakeEngine, "unsup": unsup})
	suite := Suite{Name: "test", Reps: 5, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, ScaleConns: 10,
		Scenarios: []string{"msgr-pingpong-4KiB-unpinned", "proxy-connrate"}, Calib: SmokeCalib}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake", "missing", "unsup"}, ClientEngine: "fake", Self: self, PinCPU: -1, WorkDir: dir}
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	// The machine's state at both ends of the run (calib.go).
	if run.Calibration == nil {
		t.Fatal("no calibration")
	}
	for name, c := range map[string]*result.Calibration{"start": run.Calibration.Start, "end": run.Calibration.End} {
		if c == nil || c.Err != "" || c.CPUNsPerIter <= 0 || c.CPURounds != SmokeCalib.CPURounds || c.TCPP50US <= 0 || c.TCPRoundTrips <= 0 || c.CPU != -1 {
			t.Fatalf("%s calibration: %+v", name, c)
		}
	}
	if !run.Calibration.End.At.After(run.Calibration.Start.At) {
		t.Fatalf("calibrations not at the start and the end: %v, %v", run.Calibration.Start.At, run.Calibration.End.At)
	}
	if len(run.Scenarios) != 2 {
		t.Fatalf("%d scenarios", len(run.Scenarios))
	}
	status := func(sc int, target string) *result.Cell {
		c := run.Scenarios[sc].Cell(target)
		if c == nil {
			t.Fatalf("scenario %s has no %s cell", run.Scenarios[sc].ID, target)
		}
		return c
	}
	raw := status(0, RawTCP)
	if raw.Status != result.StatusOK || len(raw.Reps) != 5 || raw.Summary["p50_us"].Median <= 0 || raw.Hist == "" {
		t.Fatalf("raw-tcp cell: %+v", raw)
	}
	fake := status(0, "fake")
	if fake.Status != result.StatusOK || fake.Summary["p50_us"].Median != 40 || fake.Summary["rate"].Median != 2000 {
		t.Fatalf("fake msgr cell: %+v", fake)
	}
	// The client's histograms, merged over the repetitions, reach run.json
	// as the loadgen's do.
	path := filepath.Join(dir, "run.json")
	if err := run.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := result.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := stats.DecodeHist(back.Scenarios[0].Cell("fake").Hist)
	if err != nil {
		t.Fatalf("fake cell's histogram in run.json: %v", err)
	}
	if p := stats.PercentilesOf(h); p.Count != 5*100 || math.Abs(p.P50-40) > 0.04 || math.Abs(p.P99-60) > 0.06 || math.Abs(p.Max-80) > 0.08 {
		t.Fatalf("merged client histogram: %+v", p)
	}
	if _, ok := fake.Summary["server_peak_rss_mb"]; !ok {
		t.Fatal("server memory not read")
	}
	if c := status(0, "missing"); c.Status != result.StatusAbsent || !strings.Contains(c.Reason, "not built") {
		t.Fatalf("missing engine: %+v", c)
	}
	for sc := 0; sc < 2; sc++ {
		if c := status(sc, "unsup"); c.Status != result.StatusAbsent || !strings.Contains(c.Reason, "built without FOO support") {
			t.Fatalf("unsupported engine in %s: %+v", run.Scenarios[sc].ID, c)
		}
	}
	if c := status(1, "fake"); c.Status != result.StatusFailed || !strings.Contains(c.Reason, "proxy: not implemented") {
		t.Fatalf("failing proxy: %+v", c)
	}
	if c := status(1, Direct); c.Status != result.StatusOK || c.Summary["conns_per_s"].Median <= 0 {
		t.Fatalf("direct connrate: %+v", c)
	}
	if _, err := exec.LookPath("haproxy"); err == nil {
		if c := status(1, HAProxy); c.Status != result.StatusOK {
			t.Fatalf("haproxy connrate: %+v", c)
		}
	}
}

func TestParseHeld(t *testing.T) {
	// The names core/msgr exports (metrics.go).
	text := `# HELP msgr_throttle_current Amount held now.
# TYPE msgr_throttle_current gauge
msgr_throttle_current{throttle="dispatch_bytes"} 131072
msgr_throttle_current{throttle="policy_bytes_client"} 65536
msgr_throttle_current{throttle="policy_msgs_client"} 3
msgr_throttle_max{throttle="policy_bytes_client"} 1.048576e+06
msgr_throttle_max{throttle="dispatch_bytes"} 1.048576e+08
msgr_throttle_peak{throttle="policy_bytes_client"} 1.1e+06
msgr_throttle_waits_total{throttle="policy_bytes_client"} 7
msgr_send_bytes_total 99999999
`
	h := parseHeld(scrapeText(text))
	if !h.found || h.held != 65536 || h.limit != 1048576 || h.peak != 1.1e6 {
		t.Fatalf("policy throttle: %+v", h)
	}
	// Another engine's own naming still shows up.
	h = parseHeld(scrapeText("x_throttle_bytes 42\nx_throttle_bytes_limit 100\n"))
	if !h.found || h.held != 42 || h.limit != 100 {
		t.Fatalf("loose names: %+v", h)
	}
	// Before a client connects only the dispatch throttles exist: they are
	// not the throttle under test.
	if h := parseHeld(scrapeText("msgr_throttle_current{throttle=\"dispatch_bytes\"} 5\nmsgr_throttle_max{throttle=\"dispatch_bytes\"} 1e8\n")); h.found || h.limit != 0 {
		t.Fatalf("dispatch throttle taken for the policy one: %+v", h)
	}
	if h := parseHeld(scrapeText("msgr_recv_messages_total 3\n")); h.found {
		t.Fatal("found a throttle gauge where there is none")
	}
}

// scrapeText parses Prometheus text as a scrape would (core/promscrape).
func scrapeText(text string) []promscrape.Sample {
	s, err := promscrape.Parse(strings.NewReader(text))
	if err != nil {
		panic(err) // the test's own text
	}
	return s
}

func TestTuningFlags(t *testing.T) {
	help := `Usage of msgr-server:
  -listen string
    	HOST:PORT to listen on (port 0: any)
  -workers int
    	engine loops (0: number of CPUs)
  -read-buffer int
    	bytes per read (default 65536)
`
	got := tuningFlags(help)
	if len(got) != 2 || got["--workers"] != "engine loops (0: number of CPUs)" || got["--read-buffer"] != "bytes per read (default 65536)" {
		t.Fatalf("tuning flags: %v", got)
	}
}

func TestCommandName(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/tmp/x/perf", "loadgen", "stream", "--addr", "a"}, "perf loadgen stream"},
		{[]string{"/repo/bin/goroutine", "msgr-client", "--connect", "a"}, "goroutine msgr-client"},
		{[]string{"haproxy"}, "haproxy"},
	}
	for _, tc := range tests {
		if got := commandName(tc.argv); got != tc.want {
			t.Errorf("commandName(%v) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func TestProxyConfigIsPlainHAProxy(t *testing.T) {
	cfg := proxyConfig([]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, []string{"127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"}, 500)
	for _, want := range []string{"maxconn 500", "mode tcp", "listen echo\n    bind 127.0.0.1:1\n    server s1 127.0.0.1:4",
		"listen sink\n    bind 127.0.0.1:2\n    server s1 127.0.0.1:5", "listen txn\n    bind 127.0.0.1:3\n    server s1 127.0.0.1:6"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func FuzzParseHeld(f *testing.F) {
	f.Add("msgr_throttle_current{throttle=\"policy_bytes_client\"} 65536\nmsgr_throttle_max{throttle=\"policy_bytes_client\"} 1048576\n")
	f.Add("x_throttle_bytes NaN\n# comment\n\n{} 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := promscrape.Parse(strings.NewReader(text))
		if err != nil {
			return // not the text format: promscrape's to reject
		}
		h := parseHeld(samples)
		if !h.found && h.held != 0 {
			t.Fatalf("held %v without a gauge", h.held)
		}
	})
}

// A histogram as core/msgr writes it, twice: the quantiles come from the
// difference, interpolated inside the bucket as histogram_quantile does.
func TestWakeupHistogramQuantiles(t *testing.T) {
	before := `# HELP msgr_throttle_wakeup_seconds x
# TYPE msgr_throttle_wakeup_seconds histogram
msgr_throttle_wakeup_seconds_bucket{throttle="dispatch_bytes",le="1e-05"} 7
msgr_throttle_wakeup_seconds_bucket{throttle="dispatch_bytes",le="+Inf"} 7
msgr_throttle_wakeup_seconds_bucket{throttle="policy_bytes_client",le="1e-05"} 10
msgr_throttle_wakeup_seconds_bucket{throttle="policy_bytes_client",le="2e-05"} 10
msgr_throttle_wakeup_seconds_bucket{throttle="policy_bytes_client",le="4e-05"} 10
msgr_throttle_wakeup_seconds_bucket{throttle="policy_bytes_client",le="+Inf"} 10
msgr_throttle_wakeup_seconds_sum{throttle="policy_bytes_client"} 0.0001
msgr_throttle_wakeup_seconds_count{throttle="policy_bytes_client"} 10
`
	// 100 more: 10 under 10 µs, 80 in 10–20 µs, 9 in 20–40 µs, 1 above.
	after := strings.NewReplacer(
		`le="1e-05"} 10`, `le="1e-05"} 20`,
		`le="2e-05"} 10`, `le="2e-05"} 100`,
		`le="4e-05"} 10`, `le="4e-05"} 109`,
		`policy_bytes_client",le="+Inf"} 10`, `policy_bytes_client",le="+Inf"} 110`,
	).Replace(before)
	b, found := parseWakeup(scrapeText(before))
	a, found2 := parseWakeup(scrapeText(after))
	if !found || !found2 {
		t.Fatal("histogram not found")
	}
	d := a.sub(b)
	if d.count() != 100 {
		t.Fatalf("count %v, want 100 (the policy throttle only)", d.count())
	}
	// Rank 50 lies 40 of 80 into the 10–20 µs bucket: 15 µs.
	if p50 := d.quantile(0.5); math.Abs(p50-15e-6) > 1e-12 {
		t.Fatalf("p50 %v", p50)
	}
	// Rank 99 is the last of the 20–40 µs bucket: 40 µs.
	if p99 := d.quantile(0.99); math.Abs(p99-40e-6) > 1e-12 {
		t.Fatalf("p99 %v", p99)
	}
	// Above every finite bound: the highest finite bound.
	if p := d.quantile(0.999); p != 40e-6 {
		t.Fatalf("p99.9 %v", p)
	}
	if !math.IsNaN(bucketHist{}.quantile(0.5)) {
		t.Fatal("empty histogram has a quantile")
	}
	// No policy throttle: every throttle's buckets, summed.
	other, _ := parseWakeup(scrapeText(`msgr_throttle_wakeup_seconds_bucket{throttle="dispatch_bytes",le="+Inf"} 7` + "\n" +
		`msgr_throttle_wakeup_seconds_bucket{throttle="dispatch_msgs",le="+Inf"} 3` + "\n"))
	if other.count() != 10 {
		t.Fatalf("fallback count %v", other.count())
	}
	if _, found := parseWakeup(scrapeText("msgr_throttle_wait_seconds_bucket{le=\"1\"} 3\n")); found {
		t.Fatal("found a wake-up histogram in another metric")
	}
}

func TestOtherCPU(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	for pin := 0; pin < 4; pin++ {
		exists := false
		for cpu := 0; cpu < 1024; cpu++ {
			exists = exists || (cpu != pin && set.IsSet(cpu))
		}
		got := otherCPU(pin)
		switch {
		case !exists && got != -1:
			t.Errorf("otherCPU(%d) = %d, want -1: no other CPU is allowed", pin, got)
		case exists && (got == pin || got < 0 || !set.IsSet(got)):
			t.Errorf("otherCPU(%d) = %d, want an allowed CPU other than %d", pin, got, pin)
		}
	}
}
