//go:build dpdk

package dpdkengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// TestCephMon runs the messenger on the DPDK stack against a real ceph-mon
// on the kernel side of the tap (hostAddr), in both roles, as on every
// kernel engine.
func TestCephMon(t *testing.T) {
	msgrtest.MonHost, msgrtest.OurHost = hostAddr, stackAddr
	msgrtest.RunCephMon(t, New)
}

// BenchmarkMsgr: ECHO round trip and pipelined rate over the DPDK stack
// (both ends on it, every byte crossing the tap twice).
func BenchmarkMsgr(b *testing.B) { msgrtest.BenchMsgr(b, New) }
