package rawepoll

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// newTestEngine is the kit's factory. Tests run two workers unless the
// case asks otherwise, so placement, Near affinity and cross-thread posts
// are always exercised; benchmarks take the default (one per CPU).
func newTestEngine(tb testing.TB, cfg engine.Config) engine.Engine {
	tb.Helper()
	e, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

// TestEngine runs the shared engine kit (spec/engine.md, every section).
func TestEngine(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		if cfg.Workers == 0 {
			cfg.Workers = 2
		}
		return newTestEngine(t, cfg)
	})
}

// BenchmarkEngine runs the kit's micro-benchmarks (echo round trip,
// 64 KiB stream).
func BenchmarkEngine(b *testing.B) { enginetest.Bench(b, newTestEngine) }

// TestEngineBufferedRelay runs the kit with splice(2) off, so the Splicer
// case goes through the buffered fallback relay.
func TestEngineBufferedRelay(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		cfg.Workers = max(cfg.Workers, 2)
		e, err := newEngine(cfg, options{noSplice: true})
		if err != nil {
			t.Fatalf("newEngine: %v", err)
		}
		return e
	})
}

// TestEngineReusePort runs the kit with one SO_REUSEPORT listener per
// worker instead of the least-loaded hand-off.
func TestEngineReusePort(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		cfg.Workers = max(cfg.Workers, 2)
		e, err := newEngine(cfg, options{reusePort: true})
		if err != nil {
			t.Fatalf("newEngine: %v", err)
		}
		return e
	})
}
