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
	startProbe(t, 10*time.Second)
	proxytest.RunWith(t, New, enginetest.Unsupported{
		"IPv6Bind": "spec/engine.md §18 (dpdk): the DPDK port's stack is IPv4 only (Ethernet + ARP + IPv4; no NDP)",
	})
}
