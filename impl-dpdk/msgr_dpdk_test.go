//go:build dpdk

package dpdkengine

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// msgrEngine is a two-worker engine shut down when the test ends.
func msgrEngine(t testing.TB) engine.Engine {
	e, err := New(engine.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

// The messenger on the DPDK stack against a real ceph-mon (Debian 16.2)
// on the kernel side of the tap, in both roles (spec/messenger.md,
// "Interop"), as on every kernel engine.
func cephMonHosts() { msgrtest.MonHost, msgrtest.OurHost = hostAddr, stackAddr }

func TestCephMonClientSEQ(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonClient(t, msgrEngine(t), true)
}

func TestCephMonClientREADY(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonClient(t, msgrEngine(t), false)
}

func TestCephMonPeer(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonPeer(t, msgrEngine(t))
}

func TestCephMonPeerResend(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonPeerResend(t, msgrEngine(t))
}

func TestCephMonPeerDialBack(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonPeerDialBack(t, msgrEngine(t))
}

func TestCephMonPeerInjected(t *testing.T) {
	cephMonHosts()
	msgrtest.CephMonPeerInjected(t, msgrEngine(t), 3*time.Second, "lossless_peer_reuse")
}
