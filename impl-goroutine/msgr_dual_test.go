package goroutine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// TestCephMonDualBind: a real ceph-mon uses the address vector of our
// server listening on both protocols (msgrtest.CephMonPeerDualBind). One
// engine is enough: the addresses are core/msgr/protocol's.
func TestCephMonDualBind(t *testing.T) {
	msgrtest.CephMonPeerDualBind(t, msgrtest.NewEngine(t, New))
}
