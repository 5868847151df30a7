package netpollengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// TestCephMon runs the messenger on this engine against a real ceph-mon in
// both roles (msgrtest.RunCephMon).
func TestCephMon(t *testing.T) { msgrtest.RunCephMon(t, New) }

// BenchmarkMsgr: ECHO round trip and pipelined rate over this engine.
func BenchmarkMsgr(b *testing.B) { msgrtest.BenchMsgr(b, New) }
