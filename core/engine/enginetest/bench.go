package enginetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// BenchFactory builds an engine for a benchmark.
type BenchFactory func(tb testing.TB, cfg engine.Config) engine.Engine

// BenchFromNew is the BenchFactory of an engine whose New needs nothing
// more: it fails the benchmark when New does.
func BenchFromNew(newEngine Constructor) BenchFactory {
	return func(tb testing.TB, cfg engine.Config) engine.Engine { return newOrFail(tb, newEngine, cfg) }
}

// Bench runs the kit's micro-benchmarks as sub-benchmarks:
//
//	EchoRoundTrip/1B, EchoRoundTrip/4KiB: one message out and back over
//	loopback, one at a time (latency of the engine's read and write paths,
//	including the wake-up of the benchmark goroutine);
//	Stream/64KiB: one-way throughput in 64 KiB writes (b.SetBytes).
//
// These are quick comparisons for engine authors; published numbers come
// from the perf harness.
func Bench(b *testing.B, newEngine BenchFactory) {
	b.Run("EchoRoundTrip/1B", func(b *testing.B) { benchEcho(b, newEngine, 1) })
	b.Run("EchoRoundTrip/4KiB", func(b *testing.B) { benchEcho(b, newEngine, 4<<10) })
	b.Run("Stream/64KiB", func(b *testing.B) { benchStream(b, newEngine, 64<<10) })
}

func benchEngine(b *testing.B, newEngine BenchFactory) engine.Engine {
	e := newEngine(b, engine.Config{})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// benchHandler is a lean handler: the kit's checks would dominate a
// microsecond round trip.
type benchHandler struct {
	engine.BaseHandler
	data    func(c engine.Conn, in []byte) int
	open    func(c engine.Conn)
	drained func(c engine.Conn)
}

func (h *benchHandler) OnOpen(c engine.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *benchHandler) OnData(c engine.Conn, in []byte) int { return h.data(c, in) }

func (h *benchHandler) OnDrained(c engine.Conn) {
	if h.drained != nil {
		h.drained(c)
	}
}

func benchListen(b *testing.B, e engine.Engine, newHandler func() engine.Handler) string {
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return newHandler() })
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	return ln.Addr().String()
}

func benchEcho(b *testing.B, newEngine BenchFactory, size int) {
	e := benchEngine(b, newEngine)
	addr := benchListen(b, e, func() engine.Handler {
		return &benchHandler{data: func(c engine.Conn, in []byte) int {
			if err := c.Write(in); err != nil {
				b.Errorf("echo Write: %v", err)
			}
			return len(in)
		}}
	})
	// The client sends the next message from OnData as soon as the echo
	// of the previous one is complete, so a round trip is measured inside
	// the engine, without a hop to the benchmark goroutine.
	msg := make([]byte, size)
	const warmup = 100
	rounds := warmup + b.N
	var warm, done = make(chan struct{}), make(chan struct{})
	got, n := 0, 0
	h := &benchHandler{
		open: func(c engine.Conn) { _ = c.Write(msg) },
		data: func(c engine.Conn, in []byte) int {
			got += len(in)
			if got < size {
				return len(in)
			}
			got -= size
			n++
			switch n {
			case warmup:
				close(warm)
			case rounds:
				close(done)
				return len(in)
			}
			if err := c.Write(msg); err != nil {
				b.Errorf("Write: %v", err)
			}
			return len(in)
		},
	}
	b.SetBytes(int64(size))
	c, err := e.Dial(addr, h, engine.DialOptions{})
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	wait(b, warm, "warm-up round trips")
	b.ResetTimer()
	wait(b, done, "round trips")
	b.StopTimer()
	_ = c.Close()
}

func benchStream(b *testing.B, newEngine BenchFactory, chunk int) {
	e := benchEngine(b, newEngine)
	total := int64(b.N) * int64(chunk)
	var got atomic.Int64
	done := make(chan struct{})
	addr := benchListen(b, e, func() engine.Handler {
		return &benchHandler{data: func(c engine.Conn, in []byte) int {
			if got.Add(int64(len(in))) == total {
				close(done)
			}
			return len(in)
		}}
	})
	buf := make([]byte, chunk)
	var sent int64
	fill := func(c engine.Conn) {
		for sent < total {
			err := c.Write(buf)
			if errors.Is(err, engine.ErrOutQueueFull) {
				return
			}
			if err != nil {
				b.Errorf("Write: %v", err)
				return
			}
			sent += int64(chunk)
		}
	}
	b.SetBytes(int64(chunk))
	b.ResetTimer()
	c, err := e.Dial(addr, &benchHandler{open: fill, drained: fill, data: func(_ engine.Conn, in []byte) int { return len(in) }}, engine.DialOptions{})
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	wait(b, done, "stream")
	b.StopTimer()
	_ = c.Close()
}
