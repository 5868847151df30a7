package gnetengine

import (
	"testing"

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
