package goroutine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// TestCephMonDualBind: a real ceph-mon uses the address vector of our
// server listening on both protocols, over msgr1 (a mon bound to v1 only)
// and over msgr2 (a mon bound to both): msgrtest.CephMonPeerDualBind.
// One engine is enough: the addresses are core/msgr/protocol's.
func TestCephMonDualBind(t *testing.T) {
	t.Run("MonV1", func(t *testing.T) { msgrtest.CephMonPeerDualBind(t, msgrtest.NewEngine(t, New), false) })
	t.Run("MonV1V2", func(t *testing.T) { msgrtest.CephMonPeerDualBind(t, msgrtest.NewEngine(t, New), true) })
}
