package msgrtest

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Factory builds the engine under test: each engine module's New.
type Factory func(engine.Config) (engine.Engine, error)

// NewEngine returns a two-worker engine from f, shut down when tb ends.
func NewEngine(tb testing.TB, f Factory) engine.Engine {
	tb.Helper()
	e, err := f(engine.Config{Workers: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

// RunCephMon runs the messenger on f's engine against a real ceph-mon
// (Debian 16.2) in both roles (spec/messenger.md, "Interop"): our client
// on the SEQ and READY paths and over msgr2 (lossy), and the mon as a
// lossless mon↔mon peer of our server, over msgr1 and msgr2. Each scenario gets a fresh engine.
func RunCephMon(t *testing.T, f Factory) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, engine.Engine)
	}{
		{"ClientSEQ", func(t *testing.T, e engine.Engine) { CephMonClient(t, e, true) }},
		{"ClientREADY", func(t *testing.T, e engine.Engine) { CephMonClient(t, e, false) }},
		{"ClientV2", CephMonClientV2},
		{"Peer", CephMonPeer},
		{"PeerResend", CephMonPeerResend},
		{"PeerDialBack", CephMonPeerDialBack},
		{"PeerInjected", func(t *testing.T, e engine.Engine) {
			CephMonPeerInjected(t, e, 3*time.Second, "lossless_peer_reuse")
		}},
		{"PeerV2", CephMonPeerV2},
		{"PeerV2Injected", func(t *testing.T, e engine.Engine) {
			CephMonPeerV2Injected(t, e, 2*time.Second, "lossless_peer_reuse")
		}},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, NewEngine(t, f)) })
	}
}

// BenchMsgr measures the ECHO round trip (64 B, depth 1) and pipelined
// rate (4 KiB, depth 64) over f's engine, with a messenger client and,
// as Server*, with a RawEchoClient.
func BenchMsgr(b *testing.B, f Factory) {
	b.Run("EchoRoundTrip", func(b *testing.B) { BenchEcho(b, NewEngine(b, f), 64, 1) })
	b.Run("EchoPipelined", func(b *testing.B) { BenchEcho(b, NewEngine(b, f), 4096, 64) })
	// The server alone (RawEchoClient allocates nothing): allocs/op are
	// the server's per message.
	b.Run("ServerEchoRoundTrip", func(b *testing.B) { BenchEchoServer(b, NewEngine(b, f), 64, 1) })
	b.Run("ServerEchoPipelined", func(b *testing.B) { BenchEchoServer(b, NewEngine(b, f), 4096, 64) })
}
