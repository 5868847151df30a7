package gnetengine

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

func newTestEngine(tb testing.TB, cfg engine.Config) engine.Engine {
	e, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

// noHalfClose is gnet's one gap the engine cannot close: gnet closes the
// connection when read() returns 0, so the write side is gone after the
// peer's FIN (spec/engine.md, "gnet").
const noHalfClose = "gnet closes a connection on read EOF; the write side cannot outlive the peer's FIN"

// Unsupported lists the kit cases gnet cannot pass, with the reason.
var Unsupported = enginetest.Unsupported{
	"Bulk64MiBBothWays":    noHalfClose + " (each side shuts its write side after 64 MiB while the other is still sending)",
	"HalfCloseClientFirst": noHalfClose,
	"HalfCloseServerFirst": noHalfClose,
	"Shutdown":             noHalfClose + " (the kit keeps the clients open after their peers' engine shut down)",
}

// TestEngine runs the engine conformance kit (spec/engine.md).
func TestEngine(t *testing.T) {
	enginetest.RunWith(t, func(t *testing.T, cfg engine.Config) engine.Engine { return newTestEngine(t, cfg) }, Unsupported)
}

// BenchmarkEngine runs the kit's micro-benchmarks.
func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, newTestEngine)
}

// openConn returns a dialed connection, open, on an engine with cfg that
// the test's cleanup shuts down.
func openConn(t *testing.T, cfg engine.Config) *conn {
	t.Helper()
	e := newTestEngine(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return engine.BaseHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	h := &openHandler{opened: make(chan struct{})}
	c, err := e.Dial(ln.Addr().String(), h, engine.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Wait(t, h.opened, "OnOpen")
	return c.(*conn)
}

type openHandler struct {
	engine.BaseHandler
	opened chan struct{}
}

func (h *openHandler) OnOpen(engine.Conn) { close(h.opened) }
