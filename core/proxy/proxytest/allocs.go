package proxytest

import (
	"io"
	"net"
	"runtime"
	"testing"
)

// RelayAllocs measures the heap allocations of the proxy's relay in steady
// state on newEngine (the least of allocWindows counts): perRound is per 64-byte ping-pong through the proxy
// to an echo backend (two relayed chunks), perChunk per 16 KiB chunk
// streamed one way to a discarding backend (the copy relay, no splice).
// The client and the backend are plain *net.TCPConn loops, which allocate
// nothing once connected, so the whole process's count
// (runtime.MemStats.Mallocs, tiny objects included) is the proxy's. Run
// it from a test that is not parallel: whatever else runs meanwhile is
// counted too. Connections are set up and warmed before counting.
func RelayAllocs(tb testing.TB, newEngine Factory, rounds, chunks int) (perRound, perChunk float64) {
	tb.Helper()
	echo := StartServer(tb, func(c *net.TCPConn) { _, _ = io.Copy(c, c) })
	_, addrs := StartProxy(tb, newEngine, relayCfg("127.0.0.1:0", echo.Addr(), false))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	msg, in := make([]byte, 64), make([]byte, 64)
	pingPong := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := c.Write(msg); err != nil {
				tb.Fatal(err)
			}
			if _, err := io.ReadFull(c, in); err != nil {
				tb.Fatal(err)
			}
		}
	}
	pingPong(100)
	perRound = mallocsPer(rounds, func() { pingPong(rounds) })
	for i := 1; i < allocWindows; i++ {
		perRound = min(perRound, mallocsPer(rounds, func() { pingPong(rounds) }))
	}

	const chunk = 16 << 10
	got := make(chan int64, 1)
	sink := StartServer(tb, func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		got <- n
	})
	_, addrs = StartProxy(tb, newEngine, relayCfg("127.0.0.1:0", sink.Addr(), false))
	s, err := net.Dial("tcp", addrs[0])
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, chunk)
	stream := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := s.Write(buf); err != nil {
				tb.Fatal(err)
			}
		}
	}
	stream(256)
	perChunk = mallocsPer(chunks, func() { stream(chunks) })
	for i := 1; i < allocWindows; i++ {
		perChunk = min(perChunk, mallocsPer(chunks, func() { stream(chunks) }))
	}
	_ = s.(*net.TCPConn).CloseWrite()
	if n, want := <-got, int64(256+allocWindows*chunks)*chunk; n != want {
		tb.Fatalf("sink got %d bytes, want %d", n, want)
	}
	return perRound, perChunk
}

// allocWindows: RelayAllocs counts this many windows of each kind and
// keeps the smallest count. An allocation per chunk shows in every
// window; one from elsewhere in the process (the runtime, a test
// goroutine, a loaded machine's odd scheduling) rarely in all of them.
const allocWindows = 3

// mallocsPer runs f and returns the process's heap allocations during it,
// divided by n.
func mallocsPer(n int, f func()) float64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n)
}

// AllocSlack is what CheckAllocs tolerates per relayed chunk above its
// allowance: room for the odd allocation of the runtime or of the test
// itself over the thousands of chunks counted, far below one per chunk.
const AllocSlack = 0.01

// CheckAllocs fails t if the relay on newEngine allocates more than
// allowed (+ AllocSlack) per relayed chunk in steady state (RelayAllocs:
// a 64 B round trip relays two chunks). allowed is 0 for every engine
// whose own code and libraries allocate nothing (issue 17: 0 allocs/op on
// the proxy relay); an engine whose library allocates per readable event
// passes 1 and says why. Run it without -race: the race runtime allocates
// by itself (sync.Pool drops items at random under the detector).
func CheckAllocs(t *testing.T, newEngine Factory, allowed float64) {
	t.Helper()
	perRound, perChunk := RelayAllocs(t, newEngine, 2000, 4000)
	t.Logf("proxy relay: %.4f allocs per 64 B round trip, %.4f per 16 KiB chunk (allowed %.0f per chunk)", perRound, perChunk, allowed)
	if perRound/2 > allowed+AllocSlack || perChunk > allowed+AllocSlack {
		t.Errorf("proxy relay allocates %.4f per round trip, %.4f per chunk (allowed %.0f + %.2f per chunk); see -memprofile of BenchmarkProxy",
			perRound, perChunk, allowed, AllocSlack)
	}
}
