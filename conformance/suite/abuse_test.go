package suite

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
	"github.com/netmodels/netmodels/core/supervise"
)

// The abuse cases (issue 21): hostile or failing peers many at once,
// each case bounded in time and size, each with a legitimate client
// measured alongside. abuse_stall_test.go holds the stalled large
// messages.
func init() {
	abuseStallCases = append(abuseStallCases, abuseMsgrCases...)
	proxyCases = append(proxyCases, abuseProxyCases...)
}

var abuseMsgrCases = []harness.Case{
	{ID: "msgr-metrics-only-configured", Kind: harness.KindMsgr,
		Spec: "spec/cli.md Messenger and proxy flags (--metrics)",
		Desc: "msgr-server listens on its --listen address only; with --metrics HOST:PORT on that one too: the process's listening sockets " +
			"(/proc, its own descriptors) are exactly the READY addresses (bin/dpdk: its --listen socket is on its own stack, not the kernel's)",
		Run: msgrMetricsOnlyConfigured},
	{ID: "msgr-claim-4gib", Kind: harness.KindMsgr, Heavy: true,
		Spec: "CONTRACT.md Messenger (--max-message-bytes); spec/messenger.md Limits and backpressure",
		Desc: "1,000 sessions open at once each send a header claiming 4 GiB (front_len on half, data_len on the other half): every one is closed " +
			"within 3 s + 2 s, msgr_bad_input_total counts 1,000, stderr names the limit, RSS grows ≤ 64 MiB, a legitimate session echoes " +
			"during and after; bound about 5 s",
		Run: msgrClaim4GiB},
}

var abuseProxyCases = []harness.Case{
	pc("proxy-plain-bind-proxy-line", specP+"§1; spec/proxy.md §7",
		"a PROXY v1 line and a v2 header sent to a bind without accept-proxy are relayed to the backend as data, byte for byte, and echoed back",
		proxyPlainBindProxyLine),
	pc("proxy-metrics-only-configured", "spec/proxy.md §2 (stats socket), §8; spec/cli.md --metrics",
		"the proxy listens on its binds and its `stats socket` path only (TCP and UNIX listening sockets of the process, from /proc); "+
			"without a stats socket no UNIX listener; engines with --metrics: that address too, and nothing else",
		proxyMetricsOnlyConfigured),
}

// ---- listeners -------------------------------------------------------

// listeners returns the TCP and UNIX sockets p listens on, sorted.
func listeners(t *harness.T, p *harness.Proc) (tcp, unix []string) {
	t.Helper()
	tcp, unix, err := supervise.Listeners(p.PID())
	if err != nil {
		t.Fatalf("listening sockets of pid %d: %v", p.PID(), err)
	}
	sort.Strings(tcp)
	sort.Strings(unix)
	return tcp, unix
}

// kernelListens is want less what an engine on its own stack (dpdk)
// listens on outside the kernel: its data addresses, on its tap.
func kernelListens(e harness.Engine, want []string) []string {
	var out []string
	for _, a := range want {
		host, _, _ := net.SplitHostPort(a)
		if e.Name == "dpdk" && host != harness.HostIP() && host != "127.0.0.1" {
			continue
		}
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func msgrMetricsOnlyConfigured(t *harness.T, e harness.Engine) {
	for _, withMetrics := range []bool{false, true} {
		var args []string
		if withMetrics {
			args = []string{"--metrics", "127.0.0.1:0"}
		}
		p := startServer(t, e, args...)
		want := 1
		if withMetrics {
			want = 2
		}
		if len(p.Addrs) != want {
			t.Fatalf("READY %q: want %d addresses", p.Addrs, want)
		}
		tcp, unix := listeners(t, p)
		if exp := kernelListens(e, p.Addrs); !slices.Equal(tcp, exp) {
			t.Errorf("%s: listening on %q, want exactly %q (READY %q)", strings.Join(args, " "), tcp, exp, p.Addrs)
		}
		if len(unix) > 0 {
			t.Errorf("%s: UNIX listeners %q, none configured", strings.Join(args, " "), unix)
		}
		t.Logf("%q: listening on %q", args, tcp)
		stillServes(t, p)
		if err := p.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
}

func proxyMetricsOnlyConfigured(t *harness.T, e harness.Engine) {
	be := newBackend(t, echo)
	sock := t.TempDir() + "/stats.sock"
	base := simpleCfg("", "", "", be.addr())
	withStats := strings.Replace(base, "global\n", "global\n    stats socket "+sock+" level user\n", 1)
	two := withStats + "\nfrontend fe2\n    bind 127.0.0.1:0\n    default_backend be\n"
	for i, cfg := range []string{base, two} {
		p := startProxy(t, e, cfg)
		tcp, unix := listeners(t, p)
		if exp := kernelListens(e, p.Addrs); !slices.Equal(tcp, exp) {
			t.Errorf("config %d: TCP listeners %q, want exactly the binds %q", i+1, tcp, exp)
		}
		var wantUnix []string
		if i == 1 {
			wantUnix = []string{sock}
			// HAProxy binds PATH.PID.tmp and renames it to PATH (the
			// engines do the same); the socket table keeps the bound name.
			for j, u := range unix {
				if rest, ok := strings.CutPrefix(u, sock+"."); ok && strings.HasSuffix(rest, ".tmp") {
					unix[j] = sock
				}
			}
			if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
				t.Errorf("config %d: %s is not a socket (%v)", i+1, sock, err)
			}
		}
		if !slices.Equal(unix, wantUnix) {
			t.Errorf("config %d: UNIX listeners %q, want %q", i+1, unix, wantUnix)
		}
		t.Logf("config %d: TCP %q, UNIX %q", i+1, tcp, unix)
		through(t, p.Addr(0), "")
		if err := p.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	if e.Reference {
		t.Logf("--metrics is the engines' flag; haproxy checked without it")
		return
	}
	p := harness.Start(t, e, "proxy", "-f", writeCfg(t, "metrics.cfg", base), "--metrics", "127.0.0.1:0")
	tcp, unix := listeners(t, p)
	if exp := kernelListens(e, p.Addrs); !slices.Equal(tcp, exp) || len(unix) > 0 {
		t.Errorf("--metrics: listening on TCP %q and UNIX %q, want exactly %q (READY)", tcp, unix, exp)
	}
}

// ---- PROXY header on a plain bind ------------------------------------

func proxyPlainBindProxyLine(t *harness.T, e harness.Engine) {
	be := newBackend(t, echo)
	p := startProxy(t, e, simpleCfg("", "", "", be.addr()))
	v1 := []byte("PROXY TCP4 192.0.2.10 198.51.100.20 40000 443\r\nhello\n")
	v2 := append(vector(t, "v2-tcp4.bin"), "hello\n"...)
	for name, msg := range map[string][]byte{"v1 line": v1, "v2 header": v2} {
		c := dial(t, p.Addr(0), "")
		if err := roundTrip(c, msg, msg, 5*time.Second); err != nil {
			t.Errorf("%s on a plain bind: %v", name, err)
		}
		c.Close()
	}
}

// ---- 1,000 claims of 4 GiB -------------------------------------------

// rssPeak samples pid's RSS every 20 ms until stop is closed and returns
// the highest value seen (KiB).
func rssPeak(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		peak := rssKiB(pid)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, rssKiB(pid))
				return
			case <-tick.C:
				peak = max(peak, rssKiB(pid))
			}
		}
	}()
	return out
}

func msgrClaim4GiB(t *harness.T, e harness.Engine) {
	const (
		n     = 1000
		slack = 2 * time.Second // a loaded 2-core machine
	)
	p := startServer(t, e, "--metrics", "127.0.0.1:0")
	maddr := p.Addr(1)
	legit := openDefault(t, p)
	if _, err := legit.Echo(1, nil, nil, []byte("before")); err != nil {
		t.Fatal(err)
	}
	base, err := scrape(maddr)
	if err != nil {
		t.Fatal(err)
	}
	rss0 := rssKiB(p.PID())
	stopRSS := make(chan struct{})
	peakCh := rssPeak(p.PID(), stopRSS)

	// Open all n sessions first (in waves of 200 so the accept backlog
	// is not what is tested), then send every claim at once.
	sessions := make([]*msgr1.Session, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 200)
	for i := range n {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
			sessions[i] = s
			errs <- err
		}()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			if failed++; failed <= 3 {
				t.Errorf("handshake: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	})
	if failed > 0 {
		close(stopRSS)
		t.Fatalf("%d of %d handshakes failed", failed, n)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var open atomic.Int64
	var last atomic.Int64 // ns after start of the last close seen
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := s.NewEcho(1, nil, nil, nil)
			if i%2 == 0 {
				m.Header.FrontLen = 0xFFFFFFFF
			} else {
				m.Header.DataLen = 0xFFFFFFFF
			}
			m.Header = m.Header.Sealed()
			_ = s.Send(append([]byte{msgr1.TagMsg}, m.Header.Append(nil)...))
			seen, err := s.ExpectClosed(closeWithin + slack - time.Since(start))
			if err != nil || countMsgs(seen) > 0 {
				if open.Add(1) <= 3 {
					t.Errorf("claim %d: %v (%d bytes seen)", i, err, len(seen))
				}
				return
			}
			for d := int64(time.Since(start)); ; {
				l := last.Load()
				if d <= l || last.CompareAndSwap(l, d) {
					break
				}
			}
		}()
	}
	// The legitimate session is served while the claims are judged.
	lstart := time.Now()
	if _, err := legit.Echo(2, nil, nil, []byte("during")); err != nil {
		t.Errorf("legitimate echo during the claims: %v", err)
	}
	lat := time.Since(lstart)
	wg.Wait()
	close(stopRSS)
	peak := <-peakCh
	if o := open.Load(); o > 0 {
		t.Errorf("%d of %d claims were not closed within %v", o, n, closeWithin+slack)
	}
	t.Logf("%d claims of 4 GiB closed, the last %v after they were sent; legitimate echo during them %v",
		n-open.Load(), time.Duration(last.Load()).Round(time.Millisecond), lat.Round(time.Millisecond))
	// Every close was for the claim, counted as bad input.
	var ms map[string]float64
	counted := waitFor(2*time.Second, func() bool {
		ms, err = scrape(maddr)
		return err == nil && ms["msgr_bad_input_total"]-base["msgr_bad_input_total"] >= n
	})
	if !counted {
		t.Errorf("msgr_bad_input_total grew by %v, want %d (%v)", ms["msgr_bad_input_total"]-base["msgr_bad_input_total"], n, err)
	}
	if !strings.Contains(p.Stderr(), "exceeds") {
		t.Errorf("stderr never names the limit the claims exceeded: %s", p.StderrTail())
	}
	t.Logf("RSS %d KiB before, peak %d KiB (+%d MiB) with %d sessions claiming %d GiB in all", rss0, peak, (peak-rss0)>>10, n, n*4)
	if rss0 > 0 && peak-rss0 > 64<<10 {
		t.Errorf("RSS grew by %d MiB > 64 MiB", (peak-rss0)>>10)
	}
	if _, err := legit.Echo(3, nil, nil, []byte("after")); err != nil {
		t.Fatalf("legitimate echo after the claims: %v", err)
	}
	stillServes(t, p)
}

// keep imports used as the cases grow.
var _ = bytes.Equal
var _ = fmt.Sprint
