package suite

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
)

// The idle-connection floods (issue 21): about 10,000 connections per
// engine that open and say nothing. They take 5 to 10 s per cell, and
// their latency bound compares the legitimate client under the flood with
// itself unloaded, so they are Exclusive: no other case runs beside them.
func init() {
	abuseStallCases = append(abuseStallCases, harness.Case{
		ID: "msgr-idle-10k", Kind: harness.KindMsgr, Heavy: true, Exclusive: true,
		Spec: "spec/cli.md --handshake-timeout; CONTRACT.md Messenger",
		Desc: "--handshake-timeout 3s: up to 10,000 connections (sized from RLIMIT_NOFILE) open and send nothing; a legitimate session's " +
			"echo p99 while they connect stays within max(2× its unloaded p99, +2 ms), every idle one is closed within 3 s + 3 s of its " +
			"connect, server RSS grows ≤ 20 KiB per connection; about 10 s, with no other case beside it",
		Run: msgrIdle10k})
	proxyCases = append(proxyCases, harness.Case{
		ID: "proxy-idle-10k", Kind: harness.KindProxy, Heavy: true, Exclusive: true,
		Spec: "spec/proxy.md §6 (timeout client), §8",
		Desc: "`timeout client 3s`: up to 9,000 sessions (sized from RLIMIT_NOFILE: each is 2 sockets here and 2 in the proxy) open and " +
			"send nothing; a legitimate session's echo p99 while they connect stays within max(2× its unloaded p99, +2 ms), every idle " +
			"one is closed within 3 s + 3 s of its connect, proxy RSS grows ≤ 40 KiB per session; about 10 s, with no other case beside it",
		Run: proxyIdle10k})
}

// idleCount sizes a flood: want connections, each costing perConn
// descriptors in the most burdened process, under RLIMIT_NOFILE with
// 1,000 to spare.
func idleCount(want, perConn int) int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return want
	}
	return min(want, (int(r.Cur)-1000)/perConn)
}

// idleFlood opens n connections to addr that send nothing, in waves of
// 256, while echo is timed in a loop; it waits until every one is closed
// by the peer (bound: its connect + closeBy) and judges the latencies.
func idleFlood(t *harness.T, pid int, addr string, n int, closeBy time.Duration, perConnKiB int64, echo func() error) {
	t.Helper()
	lat := func(k int) []time.Duration {
		var out []time.Duration
		for range k {
			start := time.Now()
			if err := echo(); err != nil {
				t.Fatalf("legitimate echo: %v", err)
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	p99 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)*99/100]
	}
	unloaded := p99(lat(300))
	rss0 := rssKiB(pid)
	stopRSS := make(chan struct{})
	peakCh := rssPeak(pid, stopRSS)

	// The legitimate client echoes until the flood is connected.
	flooded := make(chan struct{})
	var loaded []time.Duration
	var legitErr error
	legitDone := make(chan struct{})
	go func() {
		defer close(legitDone)
		for {
			select {
			case <-flooded:
				return
			default:
			}
			start := time.Now()
			if err := echo(); err != nil {
				legitErr = err
				return
			}
			loaded = append(loaded, time.Since(start))
		}
	}()

	type result struct {
		dialErr error
		open    time.Duration // from its connect to the peer's close; <0: still open
	}
	results := make(chan result, n)
	conns := make([]net.Conn, 0, n)
	var mu sync.Mutex
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-sem
			if err != nil {
				results <- result{dialErr: err}
				return
			}
			at := time.Now()
			// Whatever the peer sends (msgr's banner) is read and ignored.
			_, err = expectEOF(c, closeBy)
			if err != nil {
				mu.Lock()
				conns = append(conns, c) // closed at the end
				mu.Unlock()
				results <- result{open: -1}
				return
			}
			c.Close() // its descriptor is needed for the next ones
			results <- result{open: time.Since(at)}
		}()
	}
	wg.Wait() // every dial returned (closes are still awaited)
	connected := time.Since(start)
	close(flooded)
	<-legitDone
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	var dialErrs, stillOpen int
	var slowest time.Duration
	for range n {
		r := <-results
		switch {
		case r.dialErr != nil:
			if dialErrs++; dialErrs <= 3 {
				t.Errorf("idle connection: dial: %v", r.dialErr)
			}
		case r.open < 0:
			stillOpen++
		default:
			slowest = max(slowest, r.open)
		}
	}
	close(stopRSS)
	peak := <-peakCh
	if legitErr != nil {
		t.Errorf("legitimate echo while %d idle connections opened: %v", n, legitErr)
	}
	if len(loaded) == 0 {
		loaded = lat(1)
	}
	loadedMax := slices.Max(loaded)
	lp99 := p99(loaded)
	t.Logf("%d idle connections opened in %v (%d failed); legitimate echo p99 %v unloaded, %v over %d echoes during the flood (max %v); "+
		"closed by the peer, the last %v after its connect, %d still open after %v; RSS %d KiB → peak %d KiB (%+d KiB per connection)",
		n, connected.Round(time.Millisecond), dialErrs, unloaded, lp99, len(loaded), loadedMax.Round(time.Microsecond),
		slowest.Round(time.Millisecond), stillOpen, closeBy, rss0, peak, (peak-rss0)/int64(n))
	if bound := max(2*unloaded, unloaded+2*time.Millisecond); lp99 > bound {
		t.Errorf("legitimate echo p99 %v during the flood > max(2× %v, +2 ms)", lp99, unloaded)
	}
	if stillOpen > 0 {
		t.Errorf("%d of %d idle connections still open %v after their connect", stillOpen, n, closeBy)
	}
	if rss0 > 0 && (peak-rss0) > perConnKiB*int64(n) {
		t.Errorf("RSS grew by %d KiB for %d idle connections, more than %d KiB each", peak-rss0, n, perConnKiB)
	}
	if err := echo(); err != nil {
		t.Errorf("legitimate echo after the flood: %v", err)
	}
}

func msgrIdle10k(t *harness.T, e harness.Engine) {
	n := idleCount(10000, 1)
	p := startServer(t, e, "--handshake-timeout", "3s")
	legit := openDefault(t, p)
	tid := uint64(0)
	data := []byte("legitimate")
	idleFlood(t, p.PID(), p.Addr(0), n, 6*time.Second, 20, func() error {
		tid++
		m, err := legit.Echo(tid, nil, nil, data)
		if err == nil && tid%1024 == 0 {
			// The server keeps its replies until acknowledged, at most
			// 65,536 of them (spec/messenger.md, the out-queue bound);
			// tens of thousands of echoes need the ACKs a real client
			// sends.
			err = legit.Send(msgr1.AppendAck(nil, m.Header.Seq))
		}
		return err
	})
	stillServes(t, p)
}

func proxyIdle10k(t *harness.T, e harness.Engine) {
	n := idleCount(9000, 2) // here: the client's socket and the backend's
	// The backend closes each connection once the proxy has: this process
	// holds two descriptors per session already. It copies through a
	// buffer: io.Copy between TCP sockets splices through a pipe, two
	// more descriptors per session while it waits.
	be := newBackend(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	// HAProxy raises its own descriptor limit to about twice its maxconn
	// and refuses to start if the hard limit is lower.
	cfg := fmt.Sprintf("global\n    maxconn %d\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 3s\n    timeout server 20s\n"+
		"\nfrontend fe\n    bind 127.0.0.1:0\n    maxconn %d\n    default_backend be\n\nbackend be\n    server s1 %s\n", n+100, n+100, be.addr())
	p := startProxy(t, e, cfg)
	// The legitimate session keeps echoing, so timeout client never
	// closes it.
	legit := dial(t, p.Addr(0), "")
	msg := []byte("legitimate\n")
	idleFlood(t, p.PID(), p.Addr(0), n, 6*time.Second, 40, func() error {
		return roundTrip(legit, msg, msg, 5*time.Second)
	})
	through(t, p.Addr(0), "")
}
