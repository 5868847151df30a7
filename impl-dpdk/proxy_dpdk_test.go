//go:build dpdk

package dpdkengine

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/enginetest"
	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// TestProxy runs the proxy kit (real sockets, real haproxy) on the engine:
// the proxies under test live on the DPDK stack, their backends, clients
// and haproxy on the kernel side of the tap (hostAddr).
func TestProxy(t *testing.T) {
	proxytest.Host = hostAddr
	// 64 sessions × 1 MiB both ways are 128 flows through one tap and one
	// poller. Under -race beside a CPU spinner (make test's worst case)
	// the poller's round trip reaches ~850 ms, gVisor's RTO fires ~3,700
	// times (18 % of its segments retransmitted; the tap's kernel side
	// drops 4 % of what it sends for want of a reader) and single flows
	// back off past the kit's 30 s stall bound. 16 sessions (32 flows)
	// ran in 11 s there with no tap drops. Measured with
	// NETMODELS_DPDK_PROBE=1; the throughput itself is issue 18's.
	proxytest.ManySessions = 16
	startProbe(t, 10*time.Second)
	proxytest.RunWith(t, New, enginetest.Unsupported{
		"IPv6Bind": "spec/engine.md §18 (dpdk): the DPDK port's stack is IPv4 only (Ethernet + ARP + IPv4; no NDP)",
	})
}
