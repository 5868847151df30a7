package rawepoll

import (
	"testing"

	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// TestProxy runs the proxy kit (real sockets, real haproxy) on this engine.
func TestProxy(t *testing.T) { proxytest.Run(t, New) }

// BenchmarkProxy measures relay throughput and added latency vs direct.
func BenchmarkProxy(b *testing.B) { proxytest.Bench(b, New) }
