package suite

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/peers"
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
	{ID: "msgr-client-sigterm-accounting", Kind: harness.KindMsgr, Heavy: true,
		Spec: "spec/cli.md msgr-client's summary (unanswered); spec/messenger.md msgr-client",
		Desc: "msgr-client, lossless, 4 conns × depth 16 with injected socket failures (1 in 200) against a server with --dispatch-delay 200µs, " +
			"SIGTERM once the server has received 2,000 messages: the JSON line comes within 5 s with errors 0 and " +
			"sent = received + unanswered (nothing lost silently), exit 1 (the run ended early), the server received at least `received` " +
			"and at most `sent` messages; a fresh session is served after; bound about 3 s",
		Run: msgrClientSigtermAccounting},
}

var abuseProxyCases = []harness.Case{
	pc("proxy-plain-bind-proxy-line", specP+"§1; spec/proxy.md §7",
		"a PROXY v1 line and a v2 header sent to a bind without accept-proxy are relayed to the backend as data, byte for byte, and echoed back",
		proxyPlainBindProxyLine),
	pc("proxy-metrics-only-configured", "spec/proxy.md §2 (stats socket), §8; spec/cli.md --metrics",
		"the proxy listens on its binds and its `stats socket` path only (TCP and UNIX listening sockets of the process, from /proc); "+
			"without a stats socket no UNIX listener; engines with --metrics: that address too, and nothing else",
		proxyMetricsOnlyConfigured),
	{ID: "proxy-backend-killed", Kind: harness.KindProxy, Heavy: true,
		Spec: "spec/proxy.md §5 (retries, option redispatch), §6",
		Desc: "`retries 1`, `option redispatch`, roundrobin over s1 (a redis-server) and s2 (an echo server): redis is SIGKILLed while a client " +
			"streams PINGs through the proxy; that client's side is closed within 2 s, a session on s2 goes on, and 4 new connections " +
			"(half of them first sent to the dead s1) all reach s2 within 5 s each; bound about 4 s",
		Run: proxyBackendKilled},
	{ID: "proxy-slowloris-accept-proxy", Kind: harness.KindProxy, Heavy: true,
		Spec: "spec/proxy.md §6 (timeout client: also for the PROXY header), §7, §8 (maxconn)",
		Desc: "frontend maxconn 100, accept-proxy, `timeout client 250ms`: 2,000 clients (fewer if RLIMIT_NOFILE is short) trickle a PROXY v1 header without its CRLF, a byte every 125 ms; " +
			"over maxconn the listener is paused and they wait in the kernel's backlog (spec/proxy.md §8); every one is closed (or never connects) " +
			"within 1.5×(n/maxconn + 2) timeouts + 3 s of its dial with nothing relayed, the backend sees none of them, the frontend never shows more " +
			"than maxconn sessions (show stat scur), the proxy holds at most 2×maxconn + 32 sockets, a legitimate client arriving during the flood " +
			"waits in the backlog and is echoed within the same bound, and at once after it (HAProxy 2.6 closes each slow client at its first " +
			"segment, a truncated header: proxy-protocol-notes §5); bound about 8 s",
		Run: proxySlowlorisAcceptProxy},
	{ID: "proxy-softstop-hard-stop", Kind: harness.KindProxy, Heavy: true,
		Spec: "spec/proxy.md §1 Signals (SIGUSR1, hard-stop-after)",
		Desc: "`hard-stop-after 2s`, 32 sessions streaming through the proxy (16 KiB every 10 ms each), SIGUSR1 (HAProxy's soft-stop): " +
			"new connections are refused within 1 s, a short session open before it finishes its exchange (1 s) and its half-close, " +
			"the streams are closed by hard-stop-after, not before (each client saw an exact prefix of its echo, none hangs), " +
			"the process exits 0 between 1.5 s and 2 s + 2 s; bound about 4 s",
		Run: proxySoftStopHardStop},
	{ID: "proxy-sigterm-under-load", Kind: harness.KindProxy, Heavy: true,
		Spec: "spec/proxy.md §1 Signals (SIGTERM); CONTRACT.md Long-running commands",
		Desc: "32 sessions streaming through the proxy (16 KiB every 10 ms each), SIGTERM: every stream is closed within 5 s, each client saw an exact prefix of its " +
			"echo, the process exits within 5 s (engines: status 0; haproxy's status is its own); bound about 2 s",
		Run: proxySigtermUnderLoad},
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

// ---- a backend killed mid-stream -------------------------------------

func proxyBackendKilled(t *harness.T, e harness.Engine) {
	if _, err := peers.RedisBinary(); err != nil {
		t.Fatal(err) // make deps installs redis-server
	}
	r, err := peers.StartRedis(peers.RedisOptions{Addr: net.JoinHostPort(harness.HostIP(), "0"), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() }) // killed by the case: its exit is the case's
	be := newBackend(t, echo)
	cfg := cfgHead + "    retries 1\n    option redispatch\n" +
		"\nfrontend fe\n    bind 127.0.0.1:0\n    default_backend be\n" +
		"\nbackend be\n    balance roundrobin\n    timeout connect 500ms\n" +
		"    server s1 " + r.Addr + "\n    server s2 " + be.addr() + "\n"
	p := startProxy(t, e, cfg)

	// One session on each server: redis answers PING with +PONG, the echo
	// server with PING itself.
	var onRedis, onEcho net.Conn
	for i := 0; i < 4 && (onRedis == nil || onEcho == nil); i++ {
		c := dial(t, p.Addr(0), "")
		got := make([]byte, 6)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("first PING through the proxy: %v", err)
		}
		_ = c.SetReadDeadline(time.Time{})
		switch string(got) {
		case "+PONG\r":
			if _, err := io.ReadFull(c, got[:1]); err != nil {
				t.Fatal(err)
			}
			onRedis = c
		case "PING\r\n":
			onEcho = c
		default:
			t.Fatalf("PING answered %q", got)
		}
	}
	if onRedis == nil || onEcho == nil {
		t.Fatalf("roundrobin gave no session on each server (redis %v, echo %v)", onRedis != nil, onEcho != nil)
	}

	// Stream PINGs to redis; once replies are flowing, SIGKILL it.
	const batch = "PING\r\nPING\r\nPING\r\nPING\r\nPING\r\nPING\r\nPING\r\nPING\r\n"
	go func() {
		for {
			if _, err := onRedis.Write([]byte(batch)); err != nil {
				return
			}
		}
	}()
	var pongs atomic.Int64
	closed := make(chan time.Time, 1)
	flowing := make(chan struct{})
	var once sync.Once
	go func() {
		buf := make([]byte, 32<<10)
		_ = onRedis.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := onRedis.Read(buf)
			if pongs.Add(int64(n/7)) >= 1000 {
				once.Do(func() { close(flowing) })
			}
			if err != nil {
				closed <- time.Now()
				return
			}
		}
	}()
	select {
	case <-flowing:
	case at := <-closed:
		t.Fatalf("the stream to redis ended before the kill (%v, %d PONGs)", at, pongs.Load())
	case <-time.After(5 * time.Second):
		t.Fatalf("no stream of PONGs through the proxy (%d in 5 s)", pongs.Load())
	}
	killed := time.Now()
	r.Kill()
	<-r.Done()
	select {
	case at := <-closed:
		d := at.Sub(killed)
		t.Logf("client side of the redis stream closed %v after the SIGKILL (%d PONGs relayed)", d.Round(time.Millisecond), pongs.Load())
		if d > 2*time.Second {
			t.Errorf("client side closed %v after the backend died, want ≤ 2 s", d.Round(time.Millisecond))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("client side of the killed backend's session still open 5 s after the SIGKILL")
	}
	if err := roundTrip(onEcho, []byte("still there\n"), []byte("still there\n"), 5*time.Second); err != nil {
		t.Errorf("the session on s2 after s1 was killed: %v", err)
	}
	// New connections: roundrobin sends every other one to the dead s1;
	// its connect is refused, retried, and the last retry redispatched.
	for i := range 4 {
		start := time.Now()
		c := dial(t, p.Addr(0), "")
		msg := []byte(fmt.Sprintf("new %d\n", i))
		if err := roundTrip(c, msg, msg, 5*time.Second); err != nil {
			t.Errorf("new connection %d after s1 was killed: %v", i, err)
		} else {
			t.Logf("new connection %d reached s2 in %v", i, time.Since(start).Round(time.Millisecond))
		}
		c.Close()
	}
}

// ---- slowloris on an accept-proxy bind -------------------------------

// socketCount is the number of distinct sockets pid holds (not
// descriptors: a socket held twice counts once; os-one-fd-per-socket
// checks the descriptors).
func socketCount(pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	seen := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			seen[l] = true
		}
	}
	return len(seen)
}

// frontendScur asks the stats socket at path for the current sessions
// (`show stat` scur) of frontend name; -1 if it cannot.
func frontendScur(path, name string) int {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return -1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return -1
	}
	b, _ := io.ReadAll(c)
	col := -1
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimPrefix(l, "# "), ",")
		if strings.HasPrefix(l, "# ") {
			col = slices.Index(f, "scur")
		} else if col >= 0 && len(f) > col && f[0] == name && f[1] == "FRONTEND" {
			v, err := strconv.Atoi(f[col])
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// peakOf samples f every 20 ms until stop is closed; the highest value.
func peakOf(f func() int, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := f()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, f())
				return
			case <-tick.C:
				peak = max(peak, f())
			}
		}
	}()
	return out
}

// slowClients is how many slow clients a flood of want can use here: each
// is a descriptor of this process, which keeps 1,024 spare for the suite.
func slowClients(t *harness.T, want int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if avail := int(rl.Cur) - 1024; avail < want {
		t.Logf("RLIMIT_NOFILE %d: %d slow clients instead of %d", rl.Cur, avail, want)
		return avail
	}
	return want
}

func proxySlowlorisAcceptProxy(t *harness.T, e harness.Engine) {
	const (
		maxconn = 100
		timeout = 250 * time.Millisecond
		// gap: a byte every half timeout, so the timeout, not the
		// client, ends each session.
		gap   = timeout / 2
		slack = 3 * time.Second
	)
	// 20×maxconn slow clients. Over maxconn the frontend's listener is
	// paused (an engine's and HAProxy's alike): the rest wait in the
	// kernel's backlog and each session holds its slot until its timeout,
	// so the flood drains in about n/maxconn timeouts (5 s).
	n := slowClients(t, 2000)
	if n < 2*maxconn {
		t.Fatalf("RLIMIT_NOFILE leaves room for %d slow clients, fewer than 2×maxconn", n)
	}
	// Each wave of maxconn takes a timeout and a little more (the timer's
	// lateness, the accepts): half a timeout of margin a wave.
	drain := time.Duration(n/maxconn+2)*timeout*3/2 + slack
	be := newBackend(t, echo)
	sock := t.TempDir() + "/stats.sock"
	cfg := strings.Replace(strings.Replace(cfgHead, "timeout client 20s", "timeout client 250ms", 1),
		"global\n", "global\n    stats socket "+sock+" level user\n", 1) +
		fmt.Sprintf("\nfrontend fe\n    bind 127.0.0.1:0 accept-proxy\n    maxconn %d\n    default_backend be\n", maxconn) +
		"\nbackend be\n    server s1 " + be.addr() + "\n"
	p := startProxy(t, e, cfg)
	header := "PROXY TCP4 192.0.2.10 198.51.100.20 40000 443\r\n"
	// A slow client never sends the header's CRLF: however long it waits
	// in the backlog, what it sent is never a whole header.
	slow := header[:len(header)-2]
	legit := func(what string, bound time.Duration) {
		start := time.Now()
		c, err := net.DialTimeout("tcp", p.Addr(0), bound)
		if err != nil {
			t.Errorf("legitimate client %s: dial: %v", what, err)
			return
		}
		defer c.Close()
		if err := roundTrip(c, []byte(header+"hello\n"), []byte("hello\n"), bound-time.Since(start)); err != nil {
			t.Errorf("legitimate client %s: %v after %v", what, err, time.Since(start).Round(time.Millisecond))
			return
		}
		t.Logf("legitimate client %s: echoed in %v", what, time.Since(start).Round(time.Millisecond))
	}
	legit("before the flood", 5*time.Second)
	before := be.accepted.Load()

	floodStart := time.Now()
	stop := make(chan struct{})
	peak := peakOf(func() int { return socketCount(p.PID()) }, stop)
	peakScur := peakOf(func() int { return frontendScur(sock, "fe") }, stop)
	type outcome struct {
		dialed  bool
		closed  bool
		got     int
		elapsed time.Duration // from the dial's start to the close
		err     error
	}
	results := make(chan outcome, n)
	dialed := make(chan struct{}, n)
	// halfway: a slow client has trickled for a timeout (its second
	// byte), or was already closed (HAProxy closes at the first byte).
	// The legitimate client arrives then, behind the slow clients waiting
	// in the backlog, and is accepted when the timeouts have freed slots
	// for them all.
	halfway := make(chan struct{})
	var once sync.Once
	for range n {
		go func() {
			var o outcome
			defer func() { results <- o }()
			start := time.Now()
			// 5 s: a SYN dropped on a full backlog is sent again at 1 s
			// and 3 s.
			c, err := net.DialTimeout("tcp", p.Addr(0), 5*time.Second)
			dialed <- struct{}{}
			if err != nil {
				o.err = err // never accepted: the kernel's backlog was full
				return
			}
			o.dialed = true
			defer c.Close()
			// The closing side: a reader that waits for EOF or RST (a
			// small buffer: nothing should come).
			done := make(chan error, 1)
			go func() {
				_ = c.SetReadDeadline(start.Add(drain))
				buf := make([]byte, 64)
				for {
					k, err := c.Read(buf)
					o.got += k
					if err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							err = fmt.Errorf("still open %v after its dial", drain)
						} else {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			tick := time.NewTicker(gap)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case err := <-done:
					o.closed, o.elapsed, o.err = err == nil, time.Since(start), err
					once.Do(func() { close(halfway) })
					return
				case <-tick.C:
					if i < len(slow) {
						_, _ = c.Write([]byte{slow[i]})
					}
					if i == 1 {
						once.Do(func() { close(halfway) })
					}
				}
			}
		}()
	}
	for range n {
		<-dialed
	}
	<-halfway
	legit("during the flood", drain)
	var accepted, refused, late int
	var slowest time.Duration
	for range n {
		o := <-results
		switch {
		case !o.dialed:
			refused++
		case !o.closed:
			if late++; late <= 3 {
				t.Errorf("slow client: %v", o.err)
			}
		default:
			accepted++
			slowest = max(slowest, o.elapsed)
			if o.got > 0 {
				t.Errorf("slow client received %d bytes before its close", o.got)
			}
		}
	}
	close(stop)
	socks, scur := <-peak, <-peakScur
	t.Logf("%d slow clients (maxconn %d, timeout client %v): %d accepted and closed (the last %v after its dial), %d never connected, %d left open; "+
		"the flood lasted %v; peak %d sessions on the frontend (show stat scur), %d sockets in the proxy",
		n, maxconn, timeout, accepted, slowest.Round(time.Millisecond), refused, late, time.Since(floodStart).Round(time.Millisecond), scur, socks)
	if scur > maxconn {
		t.Errorf("the frontend held %d sessions at once, over its maxconn %d", scur, maxconn)
	}
	if scur < 0 {
		t.Errorf("show stat on %s never gave the frontend's scur", sock)
	}
	// The engines count a connection in scur only once its PROXY header
	// is in; what the slow clients hold is seen in the sockets. Clients
	// in the backlog are the kernel's, not the proxy's: maxconn of them,
	// and at most maxconn more accepted while a pause was on its way
	// (spec/proxy.md §8).
	if bound := 2*maxconn + 32; socks > bound {
		t.Errorf("the proxy held %d sockets, more than 2×maxconn + 32 = %d", socks, bound)
	}
	if got := be.accepted.Load() - before; got != 1 {
		t.Errorf("the backend accepted %d connections during the flood, want 1 (the legitimate client's)", got)
	}
	legit("after the flood", time.Second)
}

// ---- SIGUSR1 / SIGTERM under load ------------------------------------

// stream is one client that writes a known pattern through the echo
// proxy, 16 KiB every 10 ms, and checks that what comes back is an exact prefix of it.
type stream struct {
	c       net.Conn
	sent    atomic.Int64
	matched atomic.Int64
	ended   chan time.Time
	err     atomic.Value // error
}

func startStream(t *harness.T, addr string, seed byte) *stream {
	s := &stream{c: dial(t, addr, ""), ended: make(chan time.Time, 1)}
	chunk := make([]byte, 16<<10)
	for i := range chunk {
		chunk[i] = byte(i) ^ seed
	}
	go func() {
		// Paced (1.6 MB/s a stream): sessions with data in flight, not a
		// CPU hog that would time the proxy's signal handling instead.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := s.c.Write(chunk); err != nil {
				return
			}
			s.sent.Add(int64(len(chunk)))
		}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		var off int
		_ = s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := s.c.Read(buf)
			for _, b := range buf[:n] {
				if b != chunk[off%len(chunk)] && s.err.Load() == nil {
					s.err.Store(fmt.Errorf("byte %d of the echo differs", off))
				}
				off++
			}
			s.matched.Store(int64(off))
			if err != nil {
				s.ended <- time.Now()
				return
			}
		}
	}()
	return s
}

// streamLoad starts k streams through p and waits until each has had
// 64 KiB echoed.
func streamLoad(t *harness.T, p *harness.Proc, k int) []*stream {
	ss := make([]*stream, k)
	for i := range ss {
		ss[i] = startStream(t, p.Addr(0), byte(i))
	}
	ok := waitFor(5*time.Second, func() bool {
		for _, s := range ss {
			if s.matched.Load() < 64<<10 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the %d streams did not all flow within 5 s", k)
	}
	return ss
}

// streamsEnded checks that every stream ended within bound of from, each
// with an exact prefix of its echo, and returns the first end.
func streamsEnded(t *harness.T, what string, ss []*stream, from time.Time, bound time.Duration) time.Duration {
	var last time.Duration
	first := bound
	for i, s := range ss {
		select {
		case at := <-s.ended:
			last = max(last, at.Sub(from))
			first = min(first, at.Sub(from))
		case <-time.After(max(time.Until(from.Add(bound)), 0)):
			t.Errorf("%s: stream %d still open %v after the signal", what, i, bound)
			continue
		}
		if err, _ := s.err.Load().(error); err != nil {
			t.Errorf("%s: stream %d: %v", what, i, err)
		}
	}
	t.Logf("%s: streams closed from %v to %v after the signal", what, first.Round(time.Millisecond), last.Round(time.Millisecond))
	return first
}

func streamCfg(global string) func(be string) string {
	return func(be string) string {
		return strings.Replace(cfgHead, "global\n", "global\n"+global, 1) +
			"\nfrontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\nbackend be\n    server s1 " + be + "\n"
	}
}

func proxySoftStopHardStop(t *harness.T, e harness.Engine) {
	be := newBackend(t, echo)
	p := startProxy(t, e, streamCfg("    hard-stop-after 2s\n")(be.addr()))
	ss := streamLoad(t, p, 32)
	short := dial(t, p.Addr(0), "")
	if err := roundTrip(short, []byte("one\n"), []byte("one\n"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	sig := time.Now()
	if err := syscall.Kill(p.PID(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(short, []byte("two\n"), []byte("two\n"), time.Second); err != nil {
		t.Errorf("a session open before SIGUSR1 could not finish its exchange: %v", err)
	}
	_ = short.CloseWrite()
	if seen, err := expectEOF(short, time.Until(sig.Add(1900*time.Millisecond))); err != nil || len(seen) > 0 {
		t.Errorf("the short session did not end after its half-close: %v (%q)", err, seen)
	}
	refused := waitFor(time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr(0), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !refused {
		t.Errorf("new connections still accepted 1 s after SIGUSR1")
	}
	if first := streamsEnded(t, "soft-stop", ss, sig, 4*time.Second); first < 1500*time.Millisecond {
		t.Errorf("a stream was closed %v after SIGUSR1, before hard-stop-after 2s", first.Round(time.Millisecond))
	}
	select {
	case <-p.Done():
		t.Logf("exited %v after SIGUSR1 (%v)", time.Since(sig).Round(time.Millisecond), p.ExitErr())
		if err := p.ExitErr(); err != nil {
			t.Errorf("exit %v after the soft-stop, want 0", err)
		}
		if d := time.Since(sig); d < 1500*time.Millisecond {
			t.Errorf("exited %v after SIGUSR1, before hard-stop-after 2s with sessions open", d.Round(time.Millisecond))
		}
	case <-time.After(time.Until(sig.Add(4 * time.Second))):
		t.Errorf("still running 2 s + 2 s after SIGUSR1 with hard-stop-after 2s")
	}
	_ = p.Stop() // judged above; keeps its own exit out of the clean-exit record
}

func proxySigtermUnderLoad(t *harness.T, e harness.Engine) {
	be := newBackend(t, echo)
	p := startProxy(t, e, streamCfg("")(be.addr()))
	ss := streamLoad(t, p, 32)
	sig := time.Now()
	if err := p.Stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	t.Logf("exited %v after SIGTERM", time.Since(sig).Round(time.Millisecond))
	if d := time.Since(sig); d > 5*time.Second {
		t.Errorf("exited %v after SIGTERM, want ≤ 5 s", d.Round(time.Millisecond))
	}
	streamsEnded(t, "SIGTERM", ss, sig, 5*time.Second)
}

// ---- SIGTERM to msgr-client ------------------------------------------

func msgrClientSigtermAccounting(t *harness.T, e harness.Engine) {
	p := startServer(t, e, srvArgs(t, "--metrics", "127.0.0.1:0", "--dispatch-delay", "200us")...)
	maddr := p.Addr(1)
	cl := harness.StartClient(t, e, clientArgs(t, p.Addr(0), "--conns", "4", "--depth", "16",
		"--size", "1024", "--duration", "60s", "--inject-socket-failures", "200", "--initial-backoff", "10ms", "--max-backoff", "100ms")...)
	var ms map[string]float64
	loaded := waitFor(15*time.Second, func() bool {
		var err error
		ms, err = scrape(maddr)
		return (err == nil && ms["msgr_recv_messages_total"] >= 2000) || cl.Exited()
	})
	if !loaded || cl.Exited() {
		r := cl.Result()
		t.Fatalf("the client did not load the server (%v messages received; client exited %v: %s)",
			ms["msgr_recv_messages_total"], cl.Exited(), tailStr(r.Stderr))
	}
	sig := time.Now()
	if err := syscall.Kill(cl.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Wait(5 * time.Second)
	if err != nil {
		t.Fatalf("msgr-client after SIGTERM: %v", err)
	}
	t.Logf("msgr-client exited %d, %v after SIGTERM", r.Code, time.Since(sig).Round(time.Millisecond))
	lines := nonEmptyLines(r.Stdout)
	if len(lines) != 1 {
		t.Fatalf("msgr-client printed %d stdout lines after SIGTERM, want its JSON line: %q; stderr %s", len(lines), r.Stdout, tailStr(r.Stderr))
	}
	rep, err := msgrjson.Decode([]byte(lines[0]))
	if err != nil {
		t.Fatalf("msgr-client JSON: %v: %q", err, lines[0])
	}
	t.Logf("sent %d, received %d, unanswered %d, errors %d", rep.Sent, rep.Received, rep.Unanswered, rep.Errors)
	if rep.Errors != 0 {
		t.Errorf("errors %d, want 0 (stderr %s)", rep.Errors, tailStr(r.Stderr))
	}
	if rep.Sent != rep.Received+rep.Unanswered {
		t.Errorf("sent %d ≠ received %d + unanswered %d: %d messages unaccounted for", rep.Sent, rep.Received, rep.Unanswered, rep.Sent-rep.Received-rep.Unanswered)
	}
	if r.Code != 1 {
		t.Errorf("exit %d after SIGTERM, want 1 (the run ended early)", r.Code)
	}
	// The server's view: every answered message reached it (after its
	// duplicate drop), and nothing it received was never sent.
	if ms, err = scrape(maddr); err != nil {
		t.Fatal(err)
	}
	got := int64(ms["msgr_recv_messages_total"])
	t.Logf("the server received %d (%v duplicates dropped, %v resent)", got, ms["msgr_duplicates_dropped_total"], ms["msgr_resent_messages_total"])
	if got < rep.Received || got > rep.Sent {
		t.Errorf("the server received %d messages; the client sent %d and had %d answered", got, rep.Sent, rep.Received)
	}
	if t.V2() {
		// Still serving, over msgr2: the suite's raw session is msgr1's.
		checkClientRun(t, harness.Run(e, 30*time.Second, clientArgs(t, p.Addr(0), "--count", "1", "--depth", "1", "--size", "2")...), 1)
		return
	}
	stillServes(t, p)
}
