//go:build dpdk

package dpdkengine

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// Unsupported lists the kit cases this engine cannot pass, with the
// reason: none (Splice is a userspace relay, see splice.go).
var Unsupported = enginetest.Unsupported{}

// TestEngine runs the engine kit with both ends of every connection on the
// DPDK engine: the kit dials its own listener, and the stack's host route
// sends that traffic out of the tap and back in (see TestMain).
func TestEngine(t *testing.T) {
	startProbe(t, 10*time.Second)
	enginetest.RunWith(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		e, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return e
	}, Unsupported)
}

// BenchmarkEngine runs the kit's micro-benchmarks over the tap loop.
func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, func(tb testing.TB, cfg engine.Config) engine.Engine {
		e, err := New(cfg)
		if err != nil {
			tb.Fatalf("New: %v", err)
		}
		return e
	})
}
