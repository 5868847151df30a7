package rawepoll

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

// The messenger against a real ceph-mon (Debian 16.2), in both roles
// (spec/messenger.md, "Interop"): our client on the SEQ and READY paths,
// and the mon as a lossless mon-mon peer of our server.
func TestCephMonClientSEQ(t *testing.T)    { msgrtest.CephMonClient(t, msgrEngine(t), true) }
func TestCephMonClientREADY(t *testing.T)  { msgrtest.CephMonClient(t, msgrEngine(t), false) }
func TestCephMonPeer(t *testing.T)         { msgrtest.CephMonPeer(t, msgrEngine(t)) }
func TestCephMonPeerResend(t *testing.T)   { msgrtest.CephMonPeerResend(t, msgrEngine(t)) }
func TestCephMonPeerDialBack(t *testing.T) { msgrtest.CephMonPeerDialBack(t, msgrEngine(t)) }
func TestCephMonPeerInjected(t *testing.T) {
	msgrtest.CephMonPeerInjected(t, msgrEngine(t), 3*time.Second, "lossless_peer_reuse")
}

// ECHO round trip and pipelined rate over this engine.
func BenchmarkMsgrEchoRoundTrip(b *testing.B) { msgrtest.BenchEcho(b, msgrEngine(b), 64, 1) }
func BenchmarkMsgrEchoPipelined(b *testing.B) { msgrtest.BenchEcho(b, msgrEngine(b), 4096, 64) }
