package proto2

import (
	"slices"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// resumePair is a lossless osd.1 resuming its session with osd.0 (server
// cookie 0x5e, connect_seq 2, in_seq 3; it sent up to 9, the server
// acknowledged 6) and a server whose Session answers with decide, which
// records the requests.
func resumePair(t testing.TB, edit func(*ClientConfig), decide func(SessionRequest) Decision) (cli, srv *side, reqs *[]SessionRequest) {
	t.Helper()
	cc := resumeClientConfig(t)
	if edit != nil {
		edit(&cc)
	}
	c, err := NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	reqs = new([]SessionRequest)
	s, err := NewServer(sessionServerConfig(t, func(r SessionRequest) Decision {
		*reqs = append(*reqs, r)
		return decide(r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	return newSide(t, c, nil), newSide(t, s, nil), reqs
}

func resumeClientConfig(t testing.TB) ClientConfig {
	return ClientConfig{EntityType: wire.EntityOSD, AuthID: "1", EntityNum: 1, PeerType: wire.EntityOSD,
		Target: mustAddr(t, "v2:127.0.0.1:6800/4242"), Addrs: []wire.EntityAddr{mustAddr(t, "v2:127.0.0.1:6801/77")},
		GlobalSeq: 5, Cookie: 0xc1, ServerCookie: 0x5e, ConnectSeq: 2, InSeq: 3, OutSeq: 6, SentSeq: 9, ResetCookie: 0xc2,
		GlobalSeqAbove: func(seen uint64) uint64 { return seen + 100 }}
}

func sessionServerConfig(t testing.TB, decide func(SessionRequest) Decision) ServerConfig {
	return ServerConfig{EntityType: wire.EntityOSD, Addrs: []wire.EntityAddr{mustAddr(t, "v2:127.0.0.1:6800/4242")},
		PeerAddr: mustAddr(t, "v2:127.0.0.1:50000/0"), GlobalID: 1, GlobalSeq: 11, Cookie: 0x5f,
		Lossy: func(wire.EntityType) bool { return false }, Session: decide}
}

// scriptedDecision answers as a registry might, by what is asked: a
// stale connect_seq (below 3) gets RETRY 3, a stale global_seq (below
// 50) RETRY_GLOBAL 50, a msg_seq above 20 RESET (full), a client cookie
// 0xbad WAIT, anything else is accepted (RECONNECT_OK with in_seq 7).
func scriptedDecision(r SessionRequest) Decision {
	switch {
	case !r.Reconnect:
		return Decision{Reply: ReplyAccept}
	case r.ConnectSeq < 3:
		return Decision{Reply: ReplyRetry, Seq: 3}
	case r.Peer.GlobalSeq < 50:
		return Decision{Reply: ReplyRetryGlobal, Seq: 50}
	case r.MsgSeq > 20:
		return Decision{Reply: ReplyReset, Full: true}
	case r.Peer.Cookie == 0xbad:
		return Decision{Reply: ReplyWait}
	}
	return Decision{Reply: ReplyAccept, InSeq: 7, OutSeq: 2}
}

func frameTags(t *testing.T, b []byte) []wire2.Tag {
	t.Helper()
	_, fs := frames(t, b)
	var tags []wire2.Tag
	for _, f := range fs {
		tags = append(tags, f.Tag())
	}
	return tags
}

func established(t *testing.T, s *side) Peer {
	t.Helper()
	for _, e := range s.events {
		if e.Kind == EventEstablished {
			return e.Peer
		}
	}
	t.Fatalf("%s: no session (state %s, fault %v)", s.c.Role(), s.c.State(), s.err)
	return Peer{}
}

// SESSION_RECONNECT answered RETRY_GLOBAL, then RETRY, then
// RECONNECT_OK: the client retries with a global_seq above the server's
// and a connect_seq above its, then resumes: the server's in_seq drops
// what it has, our numbering goes on from RECONNECT_OK's msg_seq.
func TestReconnectRetriesThenResumes(t *testing.T) {
	n := 0
	cli, srv, reqs := resumePair(t, nil, func(r SessionRequest) Decision {
		n++
		switch n {
		case 1:
			return Decision{Reply: ReplyRetryGlobal, Seq: 40}
		case 2:
			return Decision{Reply: ReplyRetry, Seq: 7}
		}
		return Decision{Reply: ReplyAccept, InSeq: 8, OutSeq: 3}
	})
	run(t, cli, srv, whole)
	if len(*reqs) != 3 {
		t.Fatalf("%d requests", len(*reqs))
	}
	for i, want := range []struct{ gs, cs uint64 }{{5, 2}, {140, 2}, {140, 8}} {
		r := (*reqs)[i]
		if !r.Reconnect || r.Peer.GlobalSeq != want.gs || r.ConnectSeq != want.cs || r.MsgSeq != 3 ||
			r.Peer.Cookie != 0xc1 || r.ServerCookie != 0x5e || r.Peer.Name.Type != wire.EntityOSD {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	want := []wire2.Tag{wire2.TagHello, wire2.TagAuthDone, wire2.TagAuthSignature,
		wire2.TagSessionRetryGlobal, wire2.TagSessionRetry, wire2.TagSessionReconnectOK}
	if got := frameTags(t, srv.sent); !slices.Equal(got, want) {
		t.Fatalf("server sent %v", got)
	}
	cp, sp := established(t, cli), established(t, srv)
	if !cp.Resumed || cp.MsgSeq != 8 || cp.ConnectSeq != 8 || cp.Cookie != 0x5e || !sp.Resumed || sp.MsgSeq != 3 {
		t.Fatalf("client peer %+v, server peer %+v", cp, sp)
	}
	if in, out := cli.c.Seqs(); in != 3 || out != 8 {
		t.Fatalf("client seqs in %d out %d", in, out)
	}
	// The client resends 9 (the server has 8); the server's old seqs
	// (≤ 3) are dropped by the client, 4 is taken.
	if seq, err := cli.c.SendMessage(testMessage(1, 9, "r", "", "")); err != nil || seq != 9 {
		t.Fatalf("resend: seq %d, %v", seq, err)
	}
	srv.c.outSeq = 2 // as if the server requeued 3 and 4
	for _, seq := range []uint64{3, 4} {
		if s, err := srv.c.SendMessage(testMessage(2, seq, "s", "", "")); err != nil || s != seq {
			t.Fatalf("server send: seq %d, %v", s, err)
		}
	}
	cli.feed(srv.feed(cli.drain()))
	if cli.err != nil || srv.err != nil {
		t.Fatalf("faults: client %v, server %v", cli.err, srv.err)
	}
	var got []uint64
	for _, e := range cli.events {
		if e.Kind == EventMessage {
			got = append(got, e.Seq)
		}
	}
	if !slices.Equal(got, []uint64{4}) {
		t.Fatalf("client took seqs %v, want [4]", got)
	}
	if in, _ := srv.c.Seqs(); in != 9 {
		t.Fatalf("server in_seq %d", in)
	}
}

// SESSION_RESET: full restarts everything (seqs, the cookie: ResetCookie)
// and reports it; not full restarts only the server's side (in_seq,
// connect_seq, cookie), our numbering goes on. Either way CLIENT_IDENT
// follows and the server opens a new session.
func TestReconnectReset(t *testing.T) {
	for _, full := range []bool{true, false} {
		cli, srv, reqs := resumePair(t, nil, func(r SessionRequest) Decision {
			if r.Reconnect {
				return Decision{Reply: ReplyReset, Full: full}
			}
			return Decision{Reply: ReplyAccept}
		})
		run(t, cli, srv, whole)
		if len(*reqs) != 2 || (*reqs)[1].Reconnect {
			t.Fatalf("full %v: requests %+v", full, *reqs)
		}
		wantCookie, wantOut := uint64(0xc2), uint64(0)
		if !full {
			wantCookie, wantOut = 0xc1, 6
		}
		if r := (*reqs)[1]; r.Peer.Cookie != wantCookie || r.Peer.GlobalSeq != 5 {
			t.Fatalf("full %v: CLIENT_IDENT %+v", full, r)
		}
		if k := kinds(cli.events); !slices.Equal(k, []EventKind{EventSessionReset, EventEstablished}) || cli.events[0].Full != full {
			t.Fatalf("full %v: client events %v", full, cli.events)
		}
		if p := established(t, cli); p.Resumed || p.Cookie != 0x5f {
			t.Fatalf("full %v: client peer %+v", full, p)
		}
		if in, out := cli.c.Seqs(); in != 0 || out != wantOut {
			t.Fatalf("full %v: client seqs in %d out %d", full, in, out)
		}
	}
}

// WAIT faults the client with ErrWait; a RECONNECT_OK outside what we
// sent and the server acknowledged is a bad ack; a peer looping on
// refusals is cut off.
func TestReconnectRefusals(t *testing.T) {
	cli, srv, _ := resumePair(t, nil, func(SessionRequest) Decision { return Decision{Reply: ReplyWait} })
	run(t, cli, srv, whole)
	faultIs(t, cli.err, StateSessionReconnecting, ErrWait)
	if srv.err != nil || srv.c.State() != StateSessionAccepting {
		t.Fatalf("server after WAIT: %s %v", srv.c.State(), srv.err)
	}

	for _, in := range []uint64{5, 10} {
		cli, srv, _ = resumePair(t, nil, func(SessionRequest) Decision { return Decision{Reply: ReplyAccept, InSeq: in} })
		run(t, cli, srv, whole)
		faultIs(t, cli.err, StateSessionReconnecting, ErrBadAck)
	}

	cli, srv, _ = resumePair(t, nil, func(SessionRequest) Decision { return Decision{Reply: ReplyRetry, Seq: 1} })
	run(t, cli, srv, whole)
	faultIs(t, srv.err, StateSessionAccepting, ErrSessionAttempts)

	cli, srv, _ = resumePair(t, nil, func(SessionRequest) Decision {
		return Decision{Reply: ReplyRefuse, Err: ErrPeerType}
	})
	run(t, cli, srv, whole)
	faultIs(t, srv.err, StateSessionAccepting, ErrPeerType)

	if _, err := NewClient(ClientConfig{Addrs: []wire.EntityAddr{{}}, Lossy: true, ServerCookie: 1}); err == nil {
		t.Fatal("a lossy client resuming a session was accepted")
	}
}

// CallerAcks: no ACK after a Receive; SendAck writes one.
func TestCallerAcks(t *testing.T) {
	cli, srv, _ := resumePair(t, func(c *ClientConfig) { c.CallerAcks = true }, func(SessionRequest) Decision {
		return Decision{Reply: ReplyAccept, InSeq: 6, OutSeq: 3}
	})
	run(t, cli, srv, whole)
	established(t, cli)
	if _, err := srv.c.SendMessage(testMessage(2, 1, "s", "", "")); err != nil {
		t.Fatal(err)
	}
	out := srv.drain()
	if got := cli.feed(out); len(got) != 0 {
		t.Fatalf("client answered %v without being asked", frameTags(t, append(wire2.AppendBanner(nil, wire2.Banner{}), got...)))
	}
	if err := cli.c.SendAck(); err != nil {
		t.Fatal(err)
	}
	ack := cli.drain()
	if got := frameTags(t, append(wire2.AppendBanner(nil, wire2.Banner{}), ack...)); !slices.Equal(got, []wire2.Tag{wire2.TagAck}) {
		t.Fatalf("SendAck wrote %v", got)
	}
}
