package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/promscrape"
)

// syncBuf is a goroutine-safe buffer that signals each write.
type syncBuf struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newSyncBuf() *syncBuf { return &syncBuf{wrote: make(chan struct{}, 64)} }

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastMetrics is the metrics address of the last server started.
var lastMetrics string

// sharedEngine lets the server and client subcommands, run in-process,
// meet in one in-memory network; Shutdown is left to the test.
type sharedEngine struct{ engine.Engine }

func (sharedEngine) Shutdown(context.Context) error { return nil }

func memCLI(t testing.TB) Engine {
	e := memengine.New(memengine.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return Engine{Name: "mem", New: func(engine.Config) (engine.Engine, error) { return sharedEngine{e}, nil }}
}

func startServer(t testing.TB, eng Engine, args ...string) (addr string, stderr *syncBuf) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := newSyncBuf(), newSyncBuf()
	env := &Env{Engine: eng, Stdout: out, Stderr: errb, Ctx: ctx}
	done := make(chan int, 1)
	go func() { done <- runMsgrServer(env, append([]string{"--listen", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if st := <-done; st != 0 {
			t.Errorf("server exit %d", st)
		}
	})
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		select {
		case <-out.wrote:
		case st := <-done:
			t.Fatalf("server exited %d: %s", st, errb.String())
		case <-deadline:
			t.Fatal("no READY")
		}
	}
	f := strings.Fields(out.String())
	if len(f) < 2 || f[0] != "READY" {
		t.Fatalf("stdout %q", out.String())
	}
	if len(f) > 2 {
		lastMetrics = f[2]
	}
	return f[1], errb
}

func runClient(t testing.TB, eng Engine, args ...string) (int, msgrjson.Summary, string) {
	t.Helper()
	out, errb := newSyncBuf(), newSyncBuf()
	env := &Env{Engine: eng, Stdout: out, Stderr: errb, Ctx: context.Background()}
	st := runMsgrClient(env, args)
	var sum msgrjson.Summary
	if st != ExitUsage {
		var err error
		if sum, err = msgrjson.Decode([]byte(out.String())); err != nil {
			t.Fatalf("stdout %q: %v", out.String(), err)
		}
	}
	return st, sum, errb.String()
}

func TestMsgrClientServerEcho(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng)
	st, sum, errs := runClient(t, eng, "--connect", addr, "--count", "300", "--depth", "4", "--conns", "2", "--size", "0-5000")
	if st != 0 || sum.Sent != 300 || sum.Received != 300 || sum.Errors != 0 || sum.Engine != "mem" || sum.Conns != 2 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	if sum.RTTUs.P50 <= 0 || sum.RTTUs.Max < sum.RTTUs.P99 || sum.Size != (msgrjson.Size{Min: 0, Max: 5000}) {
		t.Fatalf("%+v", sum)
	}
	// Every round trip is in "hist", and "rtt_us" is read from it.
	h, err := msgrjson.DecodeHist(sum.Hist)
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != sum.Received || msgrjson.RTTOf(h, sum.RTTUs.Max) != sum.RTTUs {
		t.Fatalf("hist: %d values, quantiles %+v, rtt_us %+v", h.TotalCount(), msgrjson.RTTOf(h, sum.RTTUs.Max), sum.RTTUs)
	}
}

func TestMsgrInjectedFailuresBothSides(t *testing.T) {
	eng := memCLI(t)
	fast := []string{"--initial-backoff", "1ms", "--max-backoff", "20ms"}
	addr, _ := startServer(t, eng, append([]string{"--inject-socket-failures", "30"}, fast...)...)
	args := append([]string{"--connect", addr, "--count", "2000", "--depth", "8", "--size", "0-4000",
		"--inject-socket-failures", "30"}, fast...)
	st, sum, errs := runClient(t, eng, args...)
	if st != 0 || sum.Received != 2000 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}

func TestMsgrSlowDispatcherThrottle(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng, "--dispatch-delay", "1ms", "--throttle-bytes", "20000", "--metrics", "127.0.0.1:0")
	st, sum, errs := runClient(t, eng, "--connect", addr, "--count", "200", "--depth", "32", "--size", "3000")
	if st != 0 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	// Held bytes never went over the limit (+ one message), read from /metrics.
	samples, err := promscrape.Get(context.Background(), "http://"+lastMetrics+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := promscrape.Values(samples)
	body := fmt.Sprint(m)
	get := func(series string) float64 { // -1: not exported
		if v, ok := m[series]; ok {
			return v
		}
		return -1
	}
	peak, waits := get(`msgr_throttle_peak{throttle="policy_bytes_client"}`), get(`msgr_throttle_waits_total{throttle="policy_bytes_client"}`)
	wakeups, wakeSum := get(`msgr_throttle_wakeup_seconds_count{throttle="policy_bytes_client"}`), get(`msgr_throttle_wakeup_seconds_sum{throttle="policy_bytes_client"}`)
	// The Go runtime's own series are served too (perf soak samples them).
	if g := get("go_goroutines"); g <= 0 {
		t.Fatalf("go_goroutines %v:\n%s", g, body)
	}
	if peak < 0 || peak > 20000+3000 || waits <= 0 {
		t.Fatalf("peak %v waits %v:\n%s", peak, waits, body)
	}
	// Every wait that was granted is one wake-up of the paused reader
	// (a wait still pending at the end, or cancelled, is none).
	if wakeups <= 0 || wakeups > waits || wakeSum <= 0 {
		t.Fatalf("wake-ups %v (sum %v s) for %v waits:\n%s", wakeups, wakeSum, waits, body)
	}
	// Throughput equals the service rate: 200 messages at ≥1 ms each.
	if sum.Seconds < 0.2 {
		t.Fatalf("finished in %.3fs: the dispatch delay was not applied", sum.Seconds)
	}
}

func TestMsgrUsageErrors(t *testing.T) {
	eng := memCLI(t)
	for _, args := range [][]string{
		{},
		{"--connect", "127.0.0.1:1"},
		{"--connect", "127.0.0.1:1", "--count", "1", "--duration", "1s"},
		{"--connect", "127.0.0.1:1", "--count", "1", "--policy", "nope"},
		{"--connect", "127.0.0.1:1", "--count", "1", "--size", "9-1"},
		{"--connect", "nohost", "--count", "1"},
		{"--connect", "127.0.0.1:1", "--count", "1", "--name", "bogus"},
	} {
		if st, _, _ := runClient(t, eng, args...); st != ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, st)
		}
	}
	env := &Env{Engine: eng, Stdout: newSyncBuf(), Stderr: newSyncBuf(), Ctx: context.Background()}
	for _, args := range [][]string{{}, {"--listen", "x"}, {"--listen", "127.0.0.1:0", "--crc", "md5"},
		{"--listen", "127.0.0.1:0", "--body-progress-timeout", "-1s"},
		{"--listen", "127.0.0.1:0", "--reply", "mon"}, {"--listen", "127.0.0.1:0", "--nonce", "4294967296"},
		{"--listen", "127.0.0.1:0", "--reply", "osd", "--dispatch-delay", "1ms"}} {
		if st := runMsgrServer(env, args); st != ExitUsage {
			t.Errorf("server %v: exit %d", args, st)
		}
	}
}

func TestMsgrClientFailsWithoutServer(t *testing.T) {
	eng := memCLI(t)
	st, sum, _ := runClient(t, eng, "--connect", "127.0.0.1:9", "--count", "5", "--timeout", "300ms")
	if st != 1 || sum.Received != 0 {
		t.Fatalf("exit %d %+v", st, sum)
	}
}

// --count 0: open the sessions, one KEEPALIVE2 round trip, exit 0.
func TestMsgrClientHandshakeOnly(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng, "--name", "mon.0", "--policy", "stateless_server")
	st, sum, errs := runClient(t, eng, "--connect", addr, "--count", "0", "--peer-type", "mon", "--policy", "lossy_client", "--conns", "3")
	if st != 0 || sum.Sent != 0 || sum.Conns != 3 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}

// A lossy client whose connect fails gives up at once (exit 1), instead of
// waiting for --timeout.
func TestMsgrLossyClientRefusedExitsEarly(t *testing.T) {
	eng := memCLI(t)
	start := time.Now()
	st, _, errs := runClient(t, eng, "--connect", "127.0.0.1:9", "--count", "5", "--policy", "lossy_client", "--timeout", "20s")
	if st != 1 || time.Since(start) > 10*time.Second || !strings.Contains(errs, "failed") {
		t.Fatalf("exit %d after %v: %s", st, time.Since(start), errs)
	}
}

// --rate: the client sends on a fixed schedule and counts each RTT from the
// time the send was due, so the pacer's own lateness is in every RTT. The
// pacer ends its waits with nanosleep (core/sleep); a Go timer here wakes
// about 1 ms late, which put the median RTT near 1 ms even in memory.
func TestMsgrClientOpenLoopPacing(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng)
	st, sum, errs := runClient(t, eng, "--connect", addr, "--rate", "2000", "--duration", "400ms", "--size", "64")
	if st != 0 || sum.Errors != 0 || sum.Received != sum.Sent {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	// 800 sends are due in 400 ms; the schedule, not the replies, sets the
	// count. The pacer never sends ahead of its schedule, so the count is at
	// most what was due in the run's own time; when it wakes late it sends
	// what is past due at once, so only a stall of 100 ms or more (not a
	// slow machine) keeps it under 600. How late the pacer wakes is a
	// performance figure: BenchmarkMsgrClientOpenLoop reports it.
	if due := int64(2000*sum.Seconds) + 1; sum.Sent < 600 || sum.Sent > due {
		t.Fatalf("sent %d at 2000/s in a %.3f s run, want 600..%d", sum.Sent, sum.Seconds, due)
	}
	t.Logf("sent %d, RTT p50 %.0f µs p99 %.0f µs", sum.Sent, sum.RTTUs.P50, sum.RTTUs.P99)
}

// --rate --duration against a server slower than the schedule (20 ms per
// message, 10 ms between sends, depth 1): every send due in the window is
// sent once a slot frees, answered, and its RTT counted from its due time.
// The client used to drop the sends still waiting for a slot when the
// duration ended, so a slow or CPU-starved peer halved "sent" (the dpdk
// conformance run sent 103 of 200) and the slowest messages' RTTs, the
// ones coordinated omission is about, were never recorded.
func TestMsgrClientOpenLoopSendsEveryDueMessage(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng, "--dispatch-delay", "20ms")
	st, sum, errs := runClient(t, eng, "--connect", addr, "--rate", "100", "--duration", "300ms", "--size", "64")
	if st != 0 || sum.Errors != 0 || sum.Received != sum.Sent {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	if sum.Sent != 30 {
		t.Fatalf("sent %d, want the 30 due in 300 ms at 100/s", sum.Sent)
	}
	// 30 messages at >= 20 ms each take >= 600 ms; the last was due at
	// 290 ms, so it waited about 300 ms beyond its due time.
	if sum.RTTUs.Max < 200e3 {
		t.Fatalf("max RTT %.0f µs: the waiting sends' queueing delay is missing", sum.RTTUs.Max)
	}
}

// --rate --count against a server slower than the schedule: exactly
// --count messages are sent and answered, and the run ends when the last
// reply is in (not at --timeout).
func TestMsgrClientOpenLoopCount(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng, "--dispatch-delay", "5ms")
	st, sum, errs := runClient(t, eng, "--connect", addr, "--rate", "1000", "--count", "20", "--conns", "2", "--size", "64", "--timeout", "5s")
	if st != 0 || sum.Errors != 0 || sum.Sent != 20 || sum.Received != 20 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}

// BenchmarkMsgrClientOpenLoop reports the median and p99 round trip of an
// open-loop run at 2,000 messages/s over the in-memory engine, measured
// from each message's due time: a pacer that oversleeps (a Go timer wakes
// about 1 ms late on these VMs) shows here as a p50 far above the echo
// path's own cost.
func BenchmarkMsgrClientOpenLoop(b *testing.B) {
	eng := memCLI(b)
	addr, _ := startServer(b, eng)
	var p50, p99 float64
	for b.Loop() {
		st, sum, errs := runClient(b, eng, "--connect", addr, "--rate", "2000", "--duration", "200ms", "--size", "64")
		if st != 0 || sum.Errors != 0 {
			b.Fatalf("exit %d %+v %s", st, sum, errs)
		}
		p50, p99 = sum.RTTUs.P50, sum.RTTUs.P99
	}
	b.ReportMetric(p50, "p50-µs")
	b.ReportMetric(p99, "p99-µs")
}

// --handshake-first: one KEEPALIVE2 round trip per session before the
// schedule starts; the ECHOs then run as without it, every one answered,
// and the keepalives are not counted among them.
func TestMsgrClientHandshakeFirst(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startServer(t, eng)
	st, sum, errs := runClient(t, eng, "--connect", addr, "--handshake-first", "--conns", "2", "--rate", "1000", "--duration", "200ms", "--size", "64")
	if st != 0 || sum.Errors != 0 || sum.Received != sum.Sent || sum.Sent == 0 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}

// --handshake-first against nothing listening fails (exit 1) with a
// summary that says so, instead of starting a schedule on no session.
func TestMsgrClientHandshakeFirstRefused(t *testing.T) {
	eng := memCLI(t)
	st, sum, errs := runClient(t, eng, "--connect", "127.0.0.1:9", "--handshake-first", "--policy", "lossy_client",
		"--rate", "1000", "--duration", "200ms", "--timeout", "2s")
	if st != 1 || sum.Errors == 0 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}
