package netpollengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// TestEngine runs the engine conformance kit (spec/engine.md).
func TestEngine(t *testing.T) { enginetest.Run(t, enginetest.FromNew(New)) }

// BenchmarkEngine runs the kit's micro-benchmarks.
func BenchmarkEngine(b *testing.B) { enginetest.Bench(b, enginetest.BenchFromNew(New)) }
