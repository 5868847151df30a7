// Package msgrtest holds messenger tests that every engine module runs
// against its own engine (core cannot: it imports no engine): an echo
// server, RunEcho, the ECHO round-trip and pipelined-rate benchmarks, and
// the real ceph-mon interop scenarios (cephmon.go). An engine module wires
// them with one file, e.g. impl-goroutine/msgr_test.go:
//
//	func eng(t testing.TB) engine.Engine {
//		e, err := goroutine.New(engine.Config{Workers: 2})
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() {
//			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
//			defer cancel()
//			_ = e.Shutdown(ctx)
//		})
//		return e
//	}
//
//	func TestCephMonClientSEQ(t *testing.T)   { msgrtest.CephMonClient(t, eng(t), true) }
//	func TestCephMonClientREADY(t *testing.T) { msgrtest.CephMonClient(t, eng(t), false) }
//	func TestCephMonPeer(t *testing.T)        { msgrtest.CephMonPeer(t, eng(t)) }
//	func TestCephMonPeerResend(t *testing.T)  { msgrtest.CephMonPeerResend(t, eng(t)) }
//	func TestCephMonPeerDialBack(t *testing.T) { msgrtest.CephMonPeerDialBack(t, eng(t)) }
//	func TestCephMonPeerInjected(t *testing.T) {
//		msgrtest.CephMonPeerInjected(t, eng(t), 3*time.Second, "lossless_peer_reuse")
//	}
//	func BenchmarkEchoRoundTrip(b *testing.B) { msgrtest.BenchEcho(b, eng(b), 64, 1) }
//	func BenchmarkEchoPipelined(b *testing.B) { msgrtest.BenchEcho(b, eng(b), 4096, 64) }
package msgrtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Echo message types, as in CONTRACT.md.
const (
	Echo      uint16 = 0x7E01
	EchoReply uint16 = 0x7E02
)

// EchoDispatcher answers ECHO with ECHO_REPLY on the connection's loop.
type EchoDispatcher struct{ Base }

// CanFastDispatch is true for ECHO.
func (EchoDispatcher) CanFastDispatch(m *msgr.Message) bool { return m.Type == Echo }

// FastDispatch answers with the received message itself (Message.Reuse),
// so that with msgr.Config.RecycleFastDispatch (EchoServer sets it) the
// echo allocates nothing per message.
func (EchoDispatcher) FastDispatch(m *msgr.Message) {
	c := m.Conn
	_ = c.SendMessage(m.Reuse(EchoReply))
}

// Base is a Dispatcher that does nothing; embed it.
type Base struct{}

func (Base) Dispatch(*msgr.Message)             {}
func (Base) HandleConnect(*msgr.Connection)     {}
func (Base) HandleAccept(*msgr.Connection)      {}
func (Base) HandleReset(*msgr.Connection)       {}
func (Base) HandleRemoteReset(*msgr.Connection) {}
func (Base) HandleRefused(*msgr.Connection)     {}

// EchoServer starts an echo server on eng at 127.0.0.1:0.
func EchoServer(tb testing.TB, eng engine.Engine, cfg msgr.Config) *msgr.Messenger {
	tb.Helper()
	return EchoServerAt(tb, eng, cfg, "127.0.0.1:0")
}

// EchoServerAt is EchoServer bound at addr ("v2:127.0.0.1:0": msgr2,
// with a lossy cfg.Policy).
func EchoServerAt(tb testing.TB, eng engine.Engine, cfg msgr.Config, addr string) *msgr.Messenger {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "osd.0"
	}
	if cfg.Policy == "" {
		cfg.Policy = "stateful_server"
	}
	cfg.RandomNonce = true
	cfg.RecycleFastDispatch = true // EchoDispatcher keeps nothing but the reply
	m, err := msgr.New(eng, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Start(EchoDispatcher{}); err != nil {
		tb.Fatal(err)
	}
	if err := m.Bind(addr); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { shutdown(m) })
	return m
}

func shutdown(m *msgr.Messenger) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = m.Shutdown(ctx)
}

// replies counts ECHO_REPLYs on the loop and signals a channel.
type replies struct {
	Base
	ch chan uint64
}

func (r *replies) CanFastDispatch(*msgr.Message) bool { return true }
func (r *replies) FastDispatch(m *msgr.Message)       { r.ch <- m.Tid }

// BenchEcho measures ECHO over eng: with depth 1 each iteration is one
// round trip (latency); with a larger depth, depth messages stay in flight
// (pipelined rate). b.N messages in all; bytes/s counts data one way.
func BenchEcho(b *testing.B, eng engine.Engine, size, depth int) {
	srv := EchoServer(b, eng, msgr.Config{})
	benchEcho(b, eng, msgr.Config{Name: "client.1", RandomNonce: true}, srv.ListenAddr().String(), size, depth)
}

// BenchEchoLossy is BenchEcho with lossy policies (stateless_server,
// lossy_client) over msgr1 or, with v2, msgr2.1 crc mode: the same work
// on both protocols, side by side (msgr2 has no lossless sessions yet).
func BenchEchoLossy(b *testing.B, eng engine.Engine, size, depth int, v2 bool) {
	bind := "127.0.0.1:0"
	if v2 {
		bind = "v2:" + bind
	}
	srv := EchoServerAt(b, eng, msgr.Config{Policy: "stateless_server"}, bind)
	addr := srv.ListenAddr().String()
	if v2 {
		addr = srv.Addr().TypedString()
	}
	benchEcho(b, eng, msgr.Config{Name: "client.1", RandomNonce: true, Policy: "lossy_client"}, addr, size, depth)
}

func benchEcho(b *testing.B, eng engine.Engine, cfg msgr.Config, addr string, size, depth int) {
	cli, err := msgr.New(eng, cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := &replies{ch: make(chan uint64, depth+1)}
	_ = cli.Start(r)
	defer shutdown(cli)
	conn, err := cli.ConnectTo(wire.EntityOSD, addr)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	send := func(tid uint64) {
		if err := conn.SendMessage(&msgr.Message{Type: Echo, Tid: tid, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up: one round trip opens the session.
	send(0)
	<-r.ch
	b.SetBytes(int64(size))
	b.ResetTimer()
	var next uint64 = 1
	inflight := 0
	for done := 0; done < b.N; {
		for inflight < depth && int(next) <= b.N {
			send(next)
			next++
			inflight++
		}
		<-r.ch
		inflight--
		done++
	}
	b.StopTimer()
}

// RunEcho sends n ECHOs of size bytes with depth in flight and returns the
// reply tids in arrival order (for correctness tests on an engine).
func RunEcho(tb testing.TB, eng engine.Engine, n, size, depth int, timeout time.Duration) []uint64 {
	tb.Helper()
	srv := EchoServer(tb, eng, msgr.Config{})
	cli, err := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true})
	if err != nil {
		tb.Fatal(err)
	}
	r := &replies{ch: make(chan uint64, n+1)}
	_ = cli.Start(r)
	tb.Cleanup(func() { shutdown(cli) })
	conn, err := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var got []uint64
	deadline := time.After(timeout)
	sent := 0
	for len(got) < n {
		for sent < n && sent-len(got) < depth {
			sent++
			if err := conn.SendMessage(&msgr.Message{Type: Echo, Tid: uint64(sent), Data: make([]byte, size)}); err != nil {
				tb.Fatal(err)
			}
		}
		select {
		case tid := <-r.ch:
			mu.Lock()
			got = append(got, tid)
			mu.Unlock()
		case <-deadline:
			tb.Fatalf("timeout: %d of %d replies", len(got), n)
		}
	}
	return got
}
