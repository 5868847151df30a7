package suite

import (
	"fmt"
	"sync"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
)

// abuseStallCases: peers that stall in the middle of a large message
// (issue 21) must not starve the server's other connections.
var abuseStallCases = []harness.Case{
	{ID: "msgr-stalled-large-message", Kind: harness.KindMsgr, Heavy: true,
		Spec: "spec/messenger.md Limits and backpressure, Stalled large messages; spec/cli.md --body-progress-timeout",
		Desc: "--body-progress-timeout 1s, throttles 64 MiB: 20 peers each send a header claiming 8 MiB and 64 KiB of it, then stall; " +
			"they fill the throttles (gauge = 64 MiB), a legitimate echo queued behind them returns within 3 timeouts + 2 s, " +
			"every staller is closed within 3 timeouts + 2 s, msgr_body_timeouts_total is 20, the four throttle gauges return to 0, " +
			"RSS grows < 32 MiB (160 MiB claimed, 1.25 MiB sent); bound about 8 s",
		Run: stalledLargeMessage},
}

func stalledLargeMessage(t *harness.T, e harness.Engine) {
	const (
		k       = 20
		claim   = 8 << 20
		limit   = 64 << 20 // 8 claims fill it, 12 wait
		part    = 64 << 10
		timeout = time.Second
		slack   = 2 * time.Second // a loaded 2-core CI machine
	)
	p := startServer(t, e, "--body-progress-timeout", timeout.String(),
		"--throttle-bytes", fmt.Sprint(limit), "--throttle-msgs", "1000",
		"--dispatch-throttle-bytes", fmt.Sprint(limit), "--metrics", "127.0.0.1:0")
	maddr := p.Addr(1)
	if maddr == "" {
		t.Fatalf("READY %v has no metrics address", p.Addrs)
	}
	legit := openDefault(t, p)
	legit.Timeout = 3*timeout + 2*slack
	if _, err := legit.Echo(1, nil, nil, []byte("before")); err != nil {
		t.Fatal(err)
	}
	rss0 := rssKiB(p.PID())

	// The stallers: each opens a session, sends a header claiming claim
	// bytes of data and the first part of them, then sends nothing more.
	type opened struct {
		s   *msgr1.Session
		err error
	}
	results := make(chan opened, k)
	for i := range k {
		go func() {
			s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
			if err != nil {
				results <- opened{nil, fmt.Errorf("staller %d: %w", i, err)}
				return
			}
			m := s.NewEcho(1, nil, nil, nil)
			m.Header.DataLen = claim
			m.Header = m.Header.Sealed()
			frame := append([]byte{msgr1.TagMsg}, m.Header.Append(nil)...)
			results <- opened{s, s.Send(append(frame, randBytes(part)...))}
		}()
	}
	var stallers []*msgr1.Session
	var firstErr error
	for range k {
		r := <-results
		if r.s != nil {
			stallers = append(stallers, r.s)
		}
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	t.Cleanup(func() {
		for _, s := range stallers {
			s.Close()
		}
	})
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	// The engine's state, observed: the first 8 hold the policy byte
	// throttle, the other 12 wait for it.
	const (
		curPolicy   = `msgr_throttle_current{throttle="policy_bytes_client"}`
		waitsPolicy = `msgr_throttle_waits_total{throttle="policy_bytes_client"}`
	)
	var ms map[string]float64
	full := waitFor(5*time.Second, func() bool {
		var err error
		ms, err = scrape(maddr)
		return err == nil && ms[curPolicy] == limit && ms[waitsPolicy] >= k-limit/claim
	})
	if !full {
		t.Fatalf("the stallers did not fill the policy byte throttle: %s %v, %s %v", curPolicy, ms[curPolicy], waitsPolicy, ms[waitsPolicy])
	}
	rssFull := rssKiB(p.PID())

	// The legitimate client's echo waits behind them (FIFO grants) and is
	// served once the body timeout has dropped the waves ahead of it.
	start := time.Now()
	if _, err := legit.Echo(2, nil, nil, []byte("during")); err != nil {
		t.Fatalf("legitimate echo behind the stallers: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	lat := time.Since(start)
	t.Logf("legitimate echo behind %d stalled 8 MiB claims: %v (timeout %v)", k, lat.Round(time.Millisecond), timeout)
	if bound := 3*timeout + slack; lat > bound {
		t.Errorf("legitimate echo took %v > %v (1 + ⌈12/8⌉ timeouts + slack)", lat.Round(time.Millisecond), bound)
	}
	rssMid := rssKiB(p.PID())

	// Every staller is closed: the last wave one timeout after its grant.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	deadline := start.Add(3*timeout + slack)
	for i, s := range stallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ExpectClosed(max(time.Until(deadline), 100*time.Millisecond)); err != nil {
				mu.Lock()
				open++
				mu.Unlock()
				t.Errorf("staller %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if open == 0 {
		t.Logf("all %d stallers closed %v after the legitimate echo was sent", k, time.Since(start).Round(time.Millisecond))
	}

	// The reservations are all returned, and each staller was counted.
	gauges := []string{"policy_bytes_client", "policy_msgs_client", "dispatch_bytes", "dispatch_msgs"}
	zero := waitFor(2*time.Second, func() bool {
		var err error
		ms, err = scrape(maddr)
		if err != nil {
			return false
		}
		for _, g := range gauges {
			if ms[`msgr_throttle_current{throttle="`+g+`"}`] != 0 {
				return false
			}
		}
		return true
	})
	if !zero {
		for _, g := range gauges {
			if v := ms[`msgr_throttle_current{throttle="`+g+`"}`]; v != 0 {
				t.Errorf("throttle %s still holds %v after the stallers were closed", g, v)
			}
		}
	}
	if got, ok := ms["msgr_body_timeouts_total"]; !ok || got != k {
		t.Errorf("msgr_body_timeouts_total %v (present %v), want %d", got, ok, k)
	}

	// Memory follows the bytes received, not the lengths claimed.
	t.Logf("RSS %d KiB → %d KiB (first wave held) → %d KiB (second wave held)", rss0, rssFull, rssMid)
	if rss0 > 0 {
		if grew := max(rssFull, rssMid) - rss0; grew > 32<<10 {
			t.Errorf("RSS grew by %d MiB while the stallers held %d MiB of claims having sent %d KiB each", grew>>10, limit>>20, part>>10)
		}
	}
	if _, err := legit.Echo(3, nil, nil, []byte("after")); err != nil {
		t.Fatalf("legitimate echo after the stallers: %v", err)
	}
}
