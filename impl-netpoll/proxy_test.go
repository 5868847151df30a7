package netpollengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// BenchmarkProxy measures relay throughput and added latency vs direct.
func BenchmarkProxy(b *testing.B) { proxytest.Bench(b, New) }
