package netpollengine

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

// TestEngine runs the engine conformance kit (spec/engine.md).
func TestEngine(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine { return newTestEngine(t, cfg) })
}

// BenchmarkEngine runs the kit's micro-benchmarks.
func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, newTestEngine)
}
