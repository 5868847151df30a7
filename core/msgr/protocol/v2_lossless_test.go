package protocol

import (
	"slices"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// Lossless msgr2 echo under injected socket failures on both sides
// (reads and writes, in the handshake and in READY): every message and
// every reply arrives exactly once, in order, through SESSION_RECONNECT,
// RECONNECT_OK's trimming, resend with the same seqs and duplicate drop
// (TestInjectedFailuresLosslessEcho over v2).
func TestV2InjectedFailuresLosslessEcho(t *testing.T) {
	for _, seed := range []int{1, 2, 3} {
		srv, cli, s := injectedEcho(t, seed, (*world).bindV2)
		if srv.C.InjectedFailures.Load()+cli.C.InjectedFailures.Load() == 0 || cli.C.Reconnects.Load() == 0 {
			t.Fatal("no failure was injected, or no reconnect")
		}
		if bad := srv.C.BadInput.Load() + cli.C.BadInput.Load(); bad != 0 {
			t.Fatalf("%d bad input", bad)
		}
		if !s.Msgr2() || s.Lossy() || len(srv.Sessions()) != 1 {
			t.Fatalf("v2 %v lossy %v, server sessions %d", s.Msgr2(), s.Lossy(), len(srv.Sessions()))
		}
	}
}

// sockConn is the engine connection of s's current socket.
func sockConn(t *testing.T, s *Session) engine.Conn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil || s.sock.c == nil {
		t.Fatalf("session %s has no socket", s.state)
	}
	return s.sock.c
}

// SESSION_RECONNECT_OK trims what the peer has: the server received all
// ten messages but its ACK never reached the client (the client is not
// reading); after the fault the client requeues them, and the server's
// msg_seq 10 discards every one, so none is written again. Messages the
// server sent meanwhile are resent to the client once it reads again.
// connect_seq goes up by one per reconnect.
func TestV2ReconnectOKTrims(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bindV2(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	c := sockConn(t, s)
	_ = c.Execute(c.PauseRead)
	w.settle()
	for i := 1; i <= 10; i++ {
		_ = s.SendMessage(msg(uint64(i), 100))
	}
	w.settle()
	checkInOrder(t, rs.tids(), 10)
	if n, _ := s.Queued(); n != 10 {
		t.Fatalf("client holds %d unacked, want 10", n)
	}
	ss := srv.Sessions()
	for i := 1; i <= 3; i++ {
		_ = ss[0].SendMessage(msg(uint64(i), 50))
	}
	w.settle()
	sent := cli.C.MsgsSent.Load()
	s.InjectFault()
	w.runUntil(5*time.Second, func() bool { return s.IsOpen() && rc.count() == 3 })
	if n, _ := s.Queued(); n != 0 {
		t.Fatalf("client still holds %d messages", n)
	}
	if cli.C.MsgsSent.Load() != sent || srv.C.DuplicatesDropped.Load() != 0 {
		t.Fatalf("client wrote %d messages again, server dropped %d: RECONNECT_OK did not trim",
			cli.C.MsgsSent.Load()-sent, srv.C.DuplicatesDropped.Load())
	}
	checkInOrder(t, rs.tids(), 10)
	checkInOrder(t, rc.tids(), 3)
	if cs, out, in := s.SeqState(); cs != 1 || out != 10 || in != 3 {
		t.Fatalf("client cs %d out %d in %d, want 1 10 3", cs, out, in)
	}
	if got := rc.eventList(); !slices.Equal(got, []string{"connect", "connect"}) {
		t.Fatalf("client events %v", got)
	}
	if got := rs.eventList(); !slices.Equal(got, []string{"accept", "accept"}) || len(srv.Sessions()) != 1 {
		t.Fatalf("server events %v, sessions %d", got, len(srv.Sessions()))
	}
}

// A client that restarts (same address, a new client_cookie in its
// CLIENT_IDENT) resets the server's session (stateful_server has
// resetcheck): the dispatcher hears of a remote reset, what the server
// queued for the old incarnation is dropped, and the new client's
// messages are taken from seq 1.
func TestV2PeerRestartResets(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bindV2(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	for i := 1; i <= 3; i++ {
		_ = s.SendMessage(msg(uint64(i), 10))
	}
	w.settle()
	ss := srv.Sessions()
	cli.Stop()
	w.settle()
	if ss[0].State() != "standby" {
		t.Fatalf("server session %s, want standby", ss[0].State())
	}
	_ = ss[0].SendMessage(msg(99, 10)) // for the old client: dropped by the reset
	cli2, rc2 := w.endpoint("client.1", "lossless_client", 2, nil)
	s2 := w.connect(cli2, wire.EntityOSD, addr, true)
	_ = s2.SendMessage(msg(4, 10))
	w.settle()
	if got := rs.eventList(); !slices.Equal(got, []string{"accept", "remote_reset", "accept"}) {
		t.Fatalf("server events %v", got)
	}
	if got := rs.seqs; !slices.Equal(got, []uint64{1, 2, 3, 1}) {
		t.Fatalf("server took seqs %v", got)
	}
	if srv.Sessions()[0] != ss[0] || rc2.count() != 0 {
		t.Fatalf("session not reused, or the old queue reached the new client (%d)", rc2.count())
	}
}

// A server that restarts has no session to resume: SESSION_RESET (full),
// the client drops what it queued and hears of a remote reset, and
// starts a new session with CLIENT_IDENT (TestServerRestartResetSession
// over v2).
func TestV2ServerRestartResets(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bindV2(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	srv.Stop()
	w.settle()
	srv2, rs2 := w.endpoint("osd.0", "stateful_server", 1, nil)
	if err := srv2.Bind("v2:" + addr.AddrPort().String()); err != nil {
		t.Fatal(err)
	}
	_ = s.SendMessage(msg(2, 10)) // queued before the reset: dropped, as Ceph does
	w.runUntil(5*time.Second, s.IsOpen)
	_ = s.SendMessage(msg(3, 10))
	w.settle()
	if got := rs2.tids(); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("new server got %v", got)
	}
	if got := rs2.seqs; !slices.Equal(got, []uint64{1}) {
		t.Fatalf("new server took seqs %v", got)
	}
	if !slices.Contains(rc.eventList(), "remote_reset") {
		t.Fatalf("client events %v", rc.eventList())
	}
}

// p2resume dials addr with a proto2 client resuming a lossless session
// (osd.9 at v2:127.0.0.1:7000/9) with the given cookies and seqs, and
// returns it once it settled; gsAbove records RETRY_GLOBAL's answer.
func (w *world) p2resume(addr wire.EntityAddr, edit func(*proto2.ClientConfig)) *p2peer {
	w.t.Helper()
	me := wire.NewEntityAddr(mustAP("127.0.0.1:7000"), 9)
	me.Type = wire.AddrTypeMsgr2
	cfg := proto2.ClientConfig{EntityType: wire.EntityOSD, AuthID: "9", EntityNum: 9, PeerType: wire.EntityOSD,
		Target: addr, Addrs: []wire.EntityAddr{me}, GlobalSeq: 100, Cookie: 0xc1, ResetCookie: 0xc2}
	if edit != nil {
		edit(&cfg)
	}
	p, err := proto2.NewClient(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	q := &p2peer{p: p}
	if _, err := w.eng.Dial(addr.AddrPort().String(), q, engine.DialOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.settle()
	return q
}

func (q *p2peer) peer() (proto2.Peer, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.events {
		if e.Kind == proto2.EventEstablished {
			return e.Peer, true
		}
	}
	return proto2.Peer{}, false
}

// The acceptor's answers to SESSION_RECONNECT, driven by a proto2 client
// against our server (stateful_server, resetcheck): a stale global_seq
// gets RETRY_GLOBAL and a stale connect_seq RETRY (both then resume),
// an unknown session and a wrong client cookie get RESET (full), a
// msg_seq beyond what the server sent is refused, and a resume's
// RECONNECT_OK carries the server's in_seq.
func TestV2ReconnectAnswers(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	lg := &logs{t: t}
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.Logf = lg.logf })
	addr := w.bindV2(srv)

	// Unknown session: RESET (full), then CLIENT_IDENT opens one.
	q := w.p2resume(addr, func(c *proto2.ClientConfig) { c.ServerCookie, c.ConnectSeq = 0x5e, 3 })
	p, ok := q.peer()
	if k := q.kinds(); !ok || !slices.Equal(k, []proto2.EventKind{proto2.EventSessionReset, proto2.EventEstablished}) || q.events[0].Full != true || p.Resumed {
		t.Fatalf("unknown session: events %v (fault %v)", k, q.err)
	}
	serverCookie := p.Cookie
	q.send(t, wire2.Message{Header: wire2.MsgHeader2{Type: 0x7E01, Tid: 1}})
	q.send(t, wire2.Message{Header: wire2.MsgHeader2{Type: 0x7E01, Tid: 2}})
	w.settle()
	ss := srv.Sessions()
	if len(ss) != 1 || rs.count() != 2 {
		t.Fatalf("server sessions %d, messages %d", len(ss), rs.count())
	}
	_ = ss[0].SendMessage(msg(1, 5))
	w.settle()
	q.c.Close()
	w.settle()
	if ss[0].State() != "standby" {
		t.Fatalf("server session %s, want standby", ss[0].State())
	}
	resume := func(edit func(*proto2.ClientConfig)) *p2peer {
		return w.p2resume(addr, func(c *proto2.ClientConfig) {
			c.Cookie, c.ServerCookie, c.ConnectSeq, c.InSeq, c.OutSeq, c.SentSeq = 0xc2, serverCookie, 5, 1, 2, 2
			edit(c)
		})
	}

	// Stale global_seq (the session saw 100): RETRY_GLOBAL, then resumed.
	var seen uint64
	q = resume(func(c *proto2.ClientConfig) {
		c.GlobalSeq = 50
		c.GlobalSeqAbove = func(s uint64) uint64 { seen = s; return s + 1 }
	})
	if p, ok := q.peer(); !ok || !p.Resumed || p.MsgSeq != 2 || seen != 100 {
		t.Fatalf("retry global: peer %+v (ok %v), global_seq seen %d, fault %v", p, ok, seen, q.err)
	}
	q.c.Close()
	w.settle()

	// Stale connect_seq (the session has 5): RETRY 5, resumed with 6.
	q = resume(func(c *proto2.ClientConfig) { c.GlobalSeq = 200; c.ConnectSeq = 2 })
	if p, ok := q.peer(); !ok || !p.Resumed || p.ConnectSeq != 6 {
		t.Fatalf("retry: peer %+v (ok %v), fault %v", p, ok, q.err)
	}
	if cs, _, in := ss[0].SeqState(); cs != 6 || in != 2 {
		t.Fatalf("server session cs %d in %d", cs, in)
	}
	q.c.Close()
	w.settle()

	// msg_seq beyond what the server sent (1): refused, not resumed.
	q = resume(func(c *proto2.ClientConfig) { c.GlobalSeq = 300; c.ConnectSeq = 7; c.InSeq = 5 })
	if _, ok := q.peer(); ok || !q.isClosed() || !lg.has("SESSION_RECONNECT msg_seq 5, we sent up to 1") {
		t.Fatalf("bad msg_seq: resumed %v, closed %v", ok, q.isClosed())
	}

	// Another client cookie: the session is not this client's, RESET
	// (full: resetcheck), and its CLIENT_IDENT with that cookie takes
	// the session over as a restarted peer's.
	q = resume(func(c *proto2.ClientConfig) {
		c.GlobalSeq = 400
		c.ConnectSeq = 8
		c.Cookie, c.ResetCookie = 0xbad, 0xc3
	})
	if k := q.kinds(); !slices.Equal(k, []proto2.EventKind{proto2.EventSessionReset, proto2.EventEstablished}) || !q.events[0].Full {
		t.Fatalf("cookie mismatch: events %v (fault %v)", k, q.err)
	}
	if got := rs.eventList(); !slices.Equal(got, []string{"accept", "accept", "accept", "remote_reset", "accept"}) {
		t.Fatalf("server events %v", got)
	}
	if srv.C.BadInput.Load() != 1 || len(srv.Sessions()) != 1 {
		t.Fatalf("bad input %d (the msg_seq only), sessions %d", srv.C.BadInput.Load(), len(srv.Sessions()))
	}
}

// Connect race over v2 (TestConnectRace): two lossless peers dial each
// other at once with messages queued; one connection survives per pair,
// every message arrives once, in order, both ways. Then both reconnect
// at once after a fault (a reconnect race: equal connect_seqs, WAIT for
// the higher address).
func TestV2ConnectRace(t *testing.T) {
	for _, nonces := range [][2]uint32{{1, 2}, {2, 1}, {0x100, 0x1}} {
		p := connectRace(t, nonces, (*world).bindV2)
		w, a, b, ra, rb, sa, sb := p.w, p.a, p.b, p.ra, p.rb, p.sa, p.sb

		// Both ends fault and reconnect at once.
		c := sockConn(t, sa)
		w.eng.InjectReset(c)
		for i := 11; i <= 20; i++ {
			_ = sa.SendMessage(msg(uint64(i), 50))
			_ = sb.SendMessage(msg(uint64(i), 50))
		}
		w.runUntil(10*time.Second, func() bool { return ra.count() >= 20 && rb.count() >= 20 })
		checkInOrder(t, ra.tids(), 20)
		checkInOrder(t, rb.tids(), 20)
		if n, m := a.C.ConnectionsOpen.Load(), b.C.ConnectionsOpen.Load(); n != 1 || m != 1 {
			t.Fatalf("after the fault: open sockets %d and %d", n, m)
		}
		if a.C.BadInput.Load()+b.C.BadInput.Load() != 0 {
			t.Fatal("bad input")
		}
	}
}
