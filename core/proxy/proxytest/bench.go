package proxytest

import (
	"context"
	"io"
	"net"
	"sort"
	"testing"
	"time"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// Bench runs the kit's benchmarks: bulk relay throughput (copy and
// splice) and the latency a proxy adds to a 64-byte ping-pong, each next
// to the same measurement without the proxy ("direct").
func Bench(b *testing.B, newEngine Factory) {
	b.Run("Throughput/direct", func(b *testing.B) { benchThroughput(b, nil, false) })
	b.Run("Throughput/copy", func(b *testing.B) { benchThroughput(b, newEngine, false) })
	b.Run("Throughput/splice", func(b *testing.B) { benchThroughput(b, newEngine, true) })
	b.Run("PingPong64/direct", func(b *testing.B) { benchPingPong(b, nil, 64) })
	b.Run("PingPong64/proxy", func(b *testing.B) { benchPingPong(b, newEngine, 64) })
	b.Run("PingPong16K/direct", func(b *testing.B) { benchPingPong(b, nil, 16<<10) })
	b.Run("PingPong16K/proxy", func(b *testing.B) { benchPingPong(b, newEngine, 16<<10) })
	b.Run("Connect/direct", func(b *testing.B) { benchConnect(b, nil) })
	b.Run("Connect/proxy", func(b *testing.B) { benchConnect(b, newEngine) })
}

// benchConnect opens one connection per op through the proxy (or straight
// to the echo server): connect, one byte each way, close. The proxy's own
// allocations per connection are Connect/proxy's allocs/op less
// Connect/direct's (client and server run in this process too).
func benchConnect(b *testing.B, newEngine Factory) {
	srv := StartServer(b, func(c *net.TCPConn) { _, _ = io.Copy(c, c) })
	addr := target(b, newEngine, srv.Addr(), false)
	one := []byte{'x'}
	in := make([]byte, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// target returns the address to use: the sink itself (direct) or a proxy
// in front of it.
func target(b *testing.B, newEngine Factory, backend string, splice bool) string {
	if newEngine == nil {
		return backend
	}
	_, addrs := StartProxy(b, newEngine, relayCfg("127.0.0.1:0", backend, splice))
	return addrs[0]
}

// benchThroughput streams b.N × 64 KiB from a client to a discarding
// server; b.SetBytes makes `go test` report MB/s.
func benchThroughput(b *testing.B, newEngine Factory, splice bool) {
	const chunk = 64 << 10
	done := make(chan int64, 1)
	srv := StartServer(b, func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		done <- n
	})
	addr := target(b, newEngine, srv.Addr(), splice)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if n := <-done; n != int64(b.N)*chunk {
		b.Fatalf("server got %d bytes, want %d", n, int64(b.N)*chunk)
	}
	b.StopTimer()
	c.Close()
}

// benchPingPong measures round trips of size bytes through an echo server
// and reports the median as p50-ns/op next to the mean.
func benchPingPong(b *testing.B, newEngine Factory, size int) {
	srv := StartServer(b, func(c *net.TCPConn) { _, _ = io.Copy(c, c) })
	addr := target(b, newEngine, srv.Addr(), false)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, size)
	in := make([]byte, size)
	rtts := make([]time.Duration, 0, b.N)
	// Warm the path (connect to the backend) before timing.
	if _, err := c.Write(msg); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, in); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds()), "p99-ns/op")
}
