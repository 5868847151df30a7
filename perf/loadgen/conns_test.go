package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// echoListener echoes every connection on 127.0.0.1 until the test ends.
func echoListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// TestSpread: every (destination, source) pair gets an equal share, ±1,
// of the connections, and one list alone is walked round robin.
func TestSpread(t *testing.T) {
	for _, c := range []struct{ n, addrs, sources int }{{100000, 1, 5}, {100000, 5, 1}, {10, 1, 0}, {7, 3, 2}, {50000, 3, 3}} {
		count := map[[2]int]int{}
		for i := 0; i < c.n; i++ {
			a, s := Spread(i, c.addrs, c.sources)
			if a < 0 || a >= max(c.addrs, 1) || s < 0 || s >= max(c.sources, 1) {
				t.Fatalf("Spread(%d, %d, %d) = %d, %d: out of range", i, c.addrs, c.sources, a, s)
			}
			count[[2]int{a, s}]++
		}
		pairs := max(c.addrs, 1) * max(c.sources, 1)
		if len(count) != min(pairs, c.n) {
			t.Errorf("%+v: %d pairs used, want %d", c, len(count), min(pairs, c.n))
		}
		for p, k := range count {
			if k < c.n/pairs || k > c.n/pairs+1 {
				t.Errorf("%+v: pair %v holds %d, want %d or %d", c, p, k, c.n/pairs, c.n/pairs+1)
			}
		}
	}
	if a, s := Spread(3, 1, 5); a != 0 || s != 3 {
		t.Errorf("Spread(3, 1, 5) = %d, %d; want 0, 3", a, s)
	}
}

// TestServeConns: the protocol end to end against the raw echo, with
// connections spread over two 127.0.0.x sources: HOLDING, two phases,
// the final result.
func TestServeConns(t *testing.T) {
	addr := echoListener(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan Result, 1)
	go func() {
		done <- ServeConns(context.Background(), Conns{Addrs: []string{addr}, Sources: []string{"127.0.0.1", "127.0.0.2"}, N: 40, Parallel: 8,
			Size: 64, Rate: 2000, Senders: 4}, inR, outW)
		outW.Close()
	}()
	buf := make([]byte, 64<<10)
	readLine := func() string {
		var line strings.Builder
		for !strings.HasSuffix(line.String(), "\n") {
			n, err := outR.Read(buf[:1])
			if err != nil {
				t.Fatalf("reading the client's output: %v (so far %q)", err, line.String())
			}
			line.Write(buf[:n])
		}
		return strings.TrimSpace(line.String())
	}
	var n int
	var secs float64
	if l := readLine(); !strings.HasPrefix(l, "HOLDING ") {
		t.Fatalf("first line %q, want HOLDING", l)
	} else if _, err := fmt.Sscanf(l, "HOLDING %d %g", &n, &secs); err != nil || n != 40 || secs <= 0 {
		t.Fatalf("HOLDING line %q: n %d seconds %v (%v)", l, n, secs, err)
	}
	var total int64
	for i := 0; i < 2; i++ {
		fmt.Fprintln(inW, "run 50ms")
		l := readLine()
		var ph ConnsPhase
		if !strings.HasPrefix(l, "PHASE ") || json.Unmarshal([]byte(strings.TrimPrefix(l, "PHASE ")), &ph) != nil {
			t.Fatalf("phase line %q", l)
		}
		// 50 ms at 2,000/s: 100 requests.
		if ph.Err != "" || ph.Ops != 100 || ph.Latency == nil || ph.Hist == "" {
			t.Errorf("phase %d: %+v, want 100 requests with a histogram", i, ph)
		}
		total += ph.Ops
	}
	inW.Close()
	res := <-done
	if res.Err != "" || res.Ops != total || res.Kind != "conns" {
		t.Errorf("final result %+v, want %d requests and no error", res, total)
	}
}
