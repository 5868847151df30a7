package protocol

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// openRaw does a full raw handshake (cs, gs) as client nonce and returns
// the raw peer after the SEQ exchange, having sent inSeq.
func openRaw(t testing.TB, w *world, addr wire.EntityAddr, nonce uint32, gs, cs uint32, inSeq uint64) (*raw, wire.ConnectReply) {
	t.Helper()
	r := w.dialRaw(addr)
	rep := rawClientHello(t, w, r, clientAddr(nonce), clientConnect(gs, cs))
	if rep.Tag == wire.TagSeq {
		r.take(8)
		r.write(t, wire.AppendSeq(nil, inSeq))
		w.settle()
	}
	return r, rep
}

func rawMsg(seq uint64) []byte {
	return wire.AppendMessage(nil, wire.Header{Seq: seq, Tid: seq, Type: 0x7E01, Priority: 127,
		Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}, []byte("x"), nil, nil, true, wire.CRCAll)
}

// §11.2 step 8 on a stateful_server: RETRY_GLOBAL, RETRY_SESSION,
// replace with cs+1 (SEQ carries in_seq), reset-from-peer (READY).
func TestAcceptDecisions(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)

	r1, rep := openRaw(t, w, addr, 42, 10, 0, 0)
	if rep.Tag != wire.TagSeq || rep.ConnectSeq != 1 {
		t.Fatalf("first open %+v", rep)
	}
	r1.write(t, append(rawMsg(1), rawMsg(2)...))
	w.settle()
	checkInOrder(t, rs.tids(), 2)

	// Lower global_seq than seen → RETRY_GLOBAL with the seen value.
	r2 := w.dialRaw(addr)
	rep = rawClientHello(t, w, r2, clientAddr(42), clientConnect(5, 1))
	if rep.Tag != wire.TagRetryGlobal || rep.GlobalSeq != 10 {
		t.Fatalf("want RETRY_GLOBAL 10, got %+v", rep)
	}
	// Same socket: lower connect_seq (0 is reset; use cs 1 == existing while
	// the session is open) → RETRY_SESSION with cs+1.
	r2.write(t, wire.AppendConnect(nil, clientConnect(11, 1)))
	w.settle()
	rep = rawReply(t, r2)
	if rep.Tag != wire.TagRetrySession || rep.ConnectSeq != 2 {
		t.Fatalf("want RETRY_SESSION 2, got %+v", rep)
	}
	// cs 2 > existing 1 → replace: SEQ with connect_seq 3 and in_seq 2.
	r2.write(t, wire.AppendConnect(nil, clientConnect(11, 2)))
	w.settle()
	rep = rawReply(t, r2)
	if rep.Tag != wire.TagSeq || rep.ConnectSeq != 3 {
		t.Fatalf("want SEQ cs 3, got %+v", rep)
	}
	if v, _, _ := wire.DecodeSeq(r2.take(8)); v != 2 {
		t.Fatalf("server in_seq %d, want 2", v)
	}
	if !r1.isClosed() {
		t.Fatal("the replaced socket must be closed")
	}
	r2.write(t, wire.AppendSeq(nil, 0))
	r2.write(t, append(rawMsg(2), rawMsg(3)...)) // 2 is a duplicate now
	w.settle()
	checkInOrder(t, rs.tids(), 3)

	// Peer restart: cs 0 on an existing session → READY (reset-from-peer),
	// in_seq restarts so the new seq 1 is delivered, not dropped.
	r3 := w.dialRaw(addr)
	rep = rawClientHello(t, w, r3, clientAddr(42), clientConnect(12, 0))
	if rep.Tag != wire.TagReady || rep.ConnectSeq != 1 {
		t.Fatalf("want READY cs 1, got %+v", rep)
	}
	r3.write(t, rawMsg(1))
	w.settle()
	if got := rs.tids(); len(got) != 4 || got[3] != 1 {
		t.Fatalf("after peer reset: %v", got)
	}
	if ev := rs.eventList(); ev[len(ev)-2] != "remote_reset" {
		t.Fatalf("events %v", ev)
	}

	// Unknown session with cs > 0 → RESETSESSION; then cs 0 opens.
	r4 := w.dialRaw(addr)
	rep = rawClientHello(t, w, r4, clientAddr(777), clientConnect(1, 5))
	if rep.Tag != wire.TagResetSession {
		t.Fatalf("want RESETSESSION, got %+v", rep)
	}
	r4.write(t, wire.AppendConnect(nil, clientConnect(1, 0)))
	w.settle()
	if rep = rawReply(t, r4); rep.Tag != wire.TagSeq || rep.ConnectSeq != 1 {
		t.Fatalf("after reset: %+v", rep)
	}
}

// BADPROTOVER, FEATURES and BADAUTHORIZER keep the socket for another
// connect (§11.2 step 10, §16 #6-8).
func TestAcceptRefusalsKeepSocket(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("mon.0", "stateless_server", 0, func(c *Config) {
		c.DefaultPolicy.FeaturesRequired = wire.MonClientRequired
	})
	addr := w.bind(srv)
	r := w.dialRaw(addr)
	cm := clientConnect(1, 0)
	cm.ProtocolVersion = 14
	rep := rawClientHello(t, w, r, clientAddr(3), cm)
	if rep.Tag != wire.TagBadProtoVer || rep.ProtocolVersion != 15 || rep.Features != wire.FeaturesAll {
		t.Fatalf("%+v", rep)
	}
	cm.ProtocolVersion = 15
	cm.Features = 0
	r.write(t, wire.AppendConnect(nil, cm))
	w.settle()
	if rep = rawReply(t, r); rep.Tag != wire.TagFeatures || rep.Features != wire.MonClientRequired {
		t.Fatalf("%+v", rep)
	}
	// A MON peer without an authorizer, to a mon: BADAUTHORIZER.
	mcm := wire.Connect{Features: wire.FeaturesAll, HostType: uint32(wire.EntityMon), GlobalSeq: 1, ProtocolVersion: 13}
	r.write(t, wire.AppendConnect(nil, mcm))
	w.settle()
	if rep = rawReply(t, r); rep.Tag != wire.TagBadAuthorizer {
		t.Fatalf("%+v", rep)
	}
	// With the mon's AUTH_NONE blob (18 bytes) it opens.
	a := wire.AuthNoneAuthorizer{EntityType: uint32(wire.EntityMon), ID: "a"}
	mcm.AuthProtocol, mcm.AuthLen = wire.AuthNone, uint32(a.Len())
	r.write(t, wire.AppendAuthNone(wire.AppendConnect(nil, mcm), a))
	w.settle()
	if rep = rawReply(t, r); rep.Tag != wire.TagSeq || rep.Flags != wire.ConnectFlagLossy || rep.ConnectSeq != 1 {
		t.Fatalf("%+v", rep)
	}
	if r.isClosed() {
		t.Fatal("closed")
	}
}

// rawServer accepts one connection at a time and lets the test reply.
func rawListen(t *testing.T, w *world) (wire.EntityAddr, *[]*raw) {
	var peers []*raw
	l, err := w.eng.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { r := &raw{}; peers = append(peers, r); return r })
	if err != nil {
		t.Fatal(err)
	}
	return wire.AddrFromNet(l.Addr(), 0), &peers
}

// serverHello sends the server banner and reads the client's address and
// connect; returns the connect.
func serverHello(t *testing.T, w *world, r *raw, me wire.EntityAddr) wire.Connect {
	t.Helper()
	b := wire.AppendAddr(wire.AppendBanner(nil), me)
	b = wire.AppendAddr(b, clientAddr(0))
	r.write(t, b)
	w.settle()
	return readConnect(t, r)
}

func readConnect(t *testing.T, r *raw) wire.Connect {
	t.Helper()
	in := r.bytes()
	if len(in) >= wire.BannerLen && string(in[:wire.BannerLen]) == wire.Banner {
		r.take(wire.BannerLen + wire.AddrLen)
	}
	hb := r.take(wire.ConnectLen)
	if hb == nil {
		t.Fatalf("no connect (have %d bytes, closed %v)", len(r.bytes()), r.isClosed())
	}
	cm, _, _ := wire.DecodeConnect(hb)
	r.take(int(cm.AuthLen))
	return cm
}

// Connector reactions (§11.1): RETRY_GLOBAL, RETRY_SESSION, RESETSESSION
// on the same socket; WAIT closes and redials after MaxBackoff.
func TestConnectorReplies(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	addr, peers := rawListen(t, w)
	cli, rc := w.endpoint("osd.1", "lossless_peer", 2, func(c *Config) { c.MaxBackoff = 3 * time.Second })
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	r := (*peers)[0]
	cm := serverHello(t, w, r, addr)
	if cm.ConnectSeq != 0 || cm.ProtocolVersion != 10 || cm.AuthProtocol != wire.AuthNone || cm.HostType != uint32(wire.EntityOSD) {
		t.Fatalf("connect %+v", cm)
	}
	gs := cm.GlobalSeq
	reply := func(rep wire.ConnectReply) {
		rep.ProtocolVersion = 10
		r.write(t, wire.AppendConnectReply(nil, rep))
		w.settle()
	}
	reply(wire.ConnectReply{Tag: wire.TagRetryGlobal, GlobalSeq: 1000})
	if cm = readConnect(t, r); cm.GlobalSeq != 1001 || cm.ConnectSeq != 0 {
		t.Fatalf("after RETRY_GLOBAL: %+v (gs was %d)", cm, gs)
	}
	reply(wire.ConnectReply{Tag: wire.TagRetrySession, ConnectSeq: 12})
	if cm = readConnect(t, r); cm.ConnectSeq != 12 || cm.GlobalSeq != 1001 {
		t.Fatalf("after RETRY_SESSION: %+v", cm)
	}
	reply(wire.ConnectReply{Tag: wire.TagResetSession})
	if cm = readConnect(t, r); cm.ConnectSeq != 0 {
		t.Fatalf("after RESETSESSION: %+v", cm)
	}
	if ev := rc.eventList(); len(ev) != 1 || ev[0] != "remote_reset" {
		t.Fatalf("events %v", ev)
	}
	// RESETSESSION dropped the queued message (§11.1): queue is empty.
	if n, _ := s.Queued(); n != 0 {
		t.Fatalf("%d queued after reset", n)
	}
	_ = s.SendMessage(msg(2, 10))
	reply(wire.ConnectReply{Tag: wire.TagWait})
	if !r.isClosed() {
		t.Fatal("WAIT must close the socket")
	}
	w.advance(3*time.Second - time.Millisecond)
	if len(*peers) != 1 {
		t.Fatal("redialled before MaxBackoff")
	}
	w.advance(time.Millisecond)
	if len(*peers) != 2 {
		t.Fatal("no redial after WAIT + MaxBackoff")
	}
	r = (*peers)[1]
	cm = serverHello(t, w, r, addr)
	if cm.ConnectSeq != 0 {
		t.Fatalf("%+v", cm)
	}
	// A reply with a wrong connect_seq would make Ceph assert; we fault.
	r.write(t, wire.AppendSeq(wire.AppendConnectReply(nil, wire.ConnectReply{Tag: wire.TagSeq, ConnectSeq: 5,
		Features: wire.FeaturesAll, ProtocolVersion: 10}), 0))
	w.settle()
	if !r.isClosed() {
		t.Fatal("bad connect_seq must fault")
	}
}

// A server announcing another address than the one dialled: fault (§16 #3).
func TestConnectorIdentityCheck(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	addr, peers := rawListen(t, w)
	cli, _ := w.endpoint("osd.1", "lossless_peer", 2, nil)
	target := addr
	target.Nonce = 5
	w.connect(cli, wire.EntityOSD, target, true)
	w.settle()
	r := (*peers)[0]
	wrong := addr
	wrong.Nonce = 6
	b := wire.AppendAddr(wire.AppendBanner(nil), wrong)
	r.write(t, wire.AppendAddr(b, clientAddr(0)))
	w.settle()
	if !r.isClosed() {
		t.Fatal("a wrong nonce must fault")
	}
}
