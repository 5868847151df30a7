package protocol

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// FuzzServerInputV2 is FuzzServerInput for an msgr2 acceptor, lossy
// (stateless_server) or lossless (stateful_server: CLIENT_IDENT and
// SESSION_RECONNECT go to session2's registry decisions): arbitrary
// bytes from the first byte, or after a session opened (a proto2 client):
// no panic, delivered seqs strictly increasing, every throttle returned
// once the connection is gone, and a fresh session still opens.
func FuzzServerInputV2(f *testing.F) {
	msg := func(seq uint64, size int) []byte {
		return wire2.AppendMessage(nil, wire2.Message{Header: wire2.MsgHeader2{Seq: seq, Tid: seq, Type: 0x7E01},
			Front: []byte("f"), Data: make([]byte, size)})
	}
	f.Add(false, false, wire2.AppendBanner(nil, wire2.Banner{Supported: wire2.SupportedFeatures}))
	f.Add(true, false, msg(1, 10))
	f.Add(true, true, append(msg(1, 10), msg(1, 10)...))
	f.Add(true, false, append(msg(2, 5000), wire2.AppendControl(nil, wire2.TagKeepalive2, wire2.AppendKeepalive(nil, wire.Timespec{Sec: 1}))...))
	f.Add(true, true, msg(1, 70000)[:3000])
	// A lossless client's whole opening, SESSION_RECONNECT included (for
	// a session the server does not have, then CLIENT_IDENT after the
	// RESET), and the same with a reconnect the server may know.
	f.Add(false, true, reconnectOpening(f, 0))
	f.Add(false, false, reconnectOpening(f, 0))
	f.Add(false, true, reconnectOpening(f, 1))
	f.Fuzz(func(t *testing.T, opened, lossless bool, in []byte) {
		w := newWorld(t, memengine.Options{})
		policy := "stateless_server"
		if lossless {
			policy = "stateful_server"
		}
		srv, rs := w.endpoint("osd.0", policy, 1, func(c *Config) {
			c.MaxMessageBytes = 1 << 20
			c.DefaultPolicy.ThrottleBytes = 1 << 20
			c.Logf = nil
		})
		addr := w.bindV2(srv)
		if opened {
			q := w.dialP2(addr, wire.EntityOSD)
			q.write(t, in)
			w.settle()
			q.c.Close()
		} else {
			r := w.dialRaw(addr)
			r.write(t, in)
			w.settle()
			r.c.Close()
		}
		w.settle()
		rs.mu.Lock()
		seqs := rs.seqs
		rs.mu.Unlock()
		for i, seq := range seqs {
			if seq == 0 || i > 0 && seq <= seqs[i-1] {
				t.Fatalf("delivered seqs %v", seqs)
			}
		}
		db, dm := srv.DispatchThrottles()
		_, pb := srv.PolicyThrottles(wire.EntityClient)
		if db.Current() != 0 || dm.Current() != 0 || pb.Current() != 0 {
			t.Fatalf("throttles held after the close: %d %d %d", db.Current(), dm.Current(), pb.Current())
		}
		w.dialP2(addr, wire.EntityOSD)
	})
}

// reconnectOpening is what a lossless proto2 client (client.9 at a blank
// address of nonce 9, as dialP2's) sends to resume a session with our
// fuzzed server (osd.0 at v2:127.0.0.1:20000/1, memengine's first listener)
// from its banner up to SESSION_RECONNECT with connect_seq cs and msg_seq
// cs, then, after a SESSION_RESET, its CLIENT_IDENT; run against a
// proto2 server that answers the reconnect with RESET.
func reconnectOpening(f *testing.F, cs uint64) []byte {
	target := wire.NewEntityAddr(mustAP("127.0.0.1:20000"), 1) // the fuzzed server: memengine's first port
	target.Type = wire.AddrTypeMsgr2
	me := wire.NewEntityAddr(mustAP("0.0.0.0:0"), 9)
	me.Type = wire.AddrTypeAny
	c, err := proto2.NewClient(proto2.ClientConfig{EntityType: wire.EntityClient, AuthID: "9", EntityNum: 9,
		PeerType: wire.EntityOSD, Target: target, Addrs: []wire.EntityAddr{me}, GlobalSeq: 1, Cookie: 0xc1, // global_seq: not above dialP2's, which must open after it
		ServerCookie: 0x5e, ConnectSeq: cs, InSeq: cs, OutSeq: 0, SentSeq: 0, ResetCookie: 0xc2})
	if err != nil {
		f.Fatal(err)
	}
	s, err := proto2.NewServer(proto2.ServerConfig{EntityType: wire.EntityOSD, Addrs: []wire.EntityAddr{target},
		PeerAddr: target, GlobalID: 1, GlobalSeq: 1, Cookie: 1,
		Lossy: func(wire.EntityType) bool { return false },
		Session: func(r proto2.SessionRequest) proto2.Decision {
			if r.Reconnect {
				return proto2.Decision{Reply: proto2.ReplyReset, Full: true}
			}
			return proto2.Decision{Reply: proto2.ReplyAccept}
		}})
	if err != nil {
		f.Fatal(err)
	}
	var sent, toS, toC []byte
	toS = append(toS, c.Output()...)
	sent = append(sent, toS...)
	toC = append(toC, s.Output()...)
	for range 20 {
		n, err := s.Receive(toS)
		if err != nil {
			f.Fatal(err)
		}
		toS = toS[n:]
		toC = append(toC, s.Output()...)
		m, err := c.Receive(toC)
		if err != nil {
			f.Fatal(err)
		}
		toC = toC[m:]
		out := c.Output()
		toS = append(toS, out...)
		sent = append(sent, out...)
		if c.Established() {
			return sent
		}
	}
	f.Fatal("the opening did not complete")
	return nil
}
