package protocol

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// bindBoth binds ep on msgr1 and msgr2 and returns the two addresses.
func (w *world) bindBoth(ep *Endpoint) (v1, v2 wire.EntityAddr) {
	w.t.Helper()
	if err := ep.Bind("v1:127.0.0.1:0"); err != nil {
		w.t.Fatal(err)
	}
	v2 = w.bindV2(ep)
	as := ep.Addrs()
	if len(as) != 2 || as[0] != v2 || as[1].Type != wire.AddrTypeLegacy || as[1].Port == v2.Port {
		w.t.Fatalf("Addrs %v, want [v2, v1]", as)
	}
	return as[1], v2
}

// One endpoint listening on both protocols serves an msgr1 client and an
// msgr2 client through the same hooks; each protocol announces its own
// address (the msgr1 banner the v1 one, which the v1 client checks
// against the address it dialled; SERVER_IDENT both, v2 first).
func TestDualBindServesBoth(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateless_server", 1, nil)
	rs.echo = true
	v1, v2 := w.bindBoth(srv)
	if got := srv.ListenAddrs(); len(got) != 2 || got[0].String() != v1.AddrPort().String() || got[1].String() != v2.AddrPort().String() {
		t.Fatalf("ListenAddrs %v, want the v1 then the v2 listener (Bind order)", got)
	}
	if srv.Addr() != v2 {
		t.Fatalf("Addr %s, want the v2 address (the front of Addrs)", srv.Addr().TypedString())
	}

	c1, r1 := w.endpoint("client.1", "lossy_client", 2, nil)
	c2, r2 := w.endpoint("client.2", "lossy_client", 3, nil)
	s1 := w.connect(c1, wire.EntityOSD, v1, true)
	s2 := w.connect(c2, wire.EntityOSD, v2, true)
	const n = 10
	for i := 1; i <= n; i++ {
		if err := s1.SendMessage(msg(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
		if err := s2.SendMessage(msg(uint64(100+i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	w.settle()
	if !s1.IsOpen() || s1.Msgr2() || !s2.IsOpen() || !s2.Msgr2() {
		t.Fatalf("sessions: v1 open %v msgr2 %v; v2 open %v msgr2 %v", s1.IsOpen(), s1.Msgr2(), s2.IsOpen(), s2.Msgr2())
	}
	if r1.count() != n || r2.count() != n {
		t.Fatalf("echoes: v1 client %d, v2 client %d, want %d each", r1.count(), r2.count(), n)
	}
	// One dispatcher saw both clients' messages.
	var from1, from2 int
	for _, m := range rs.msgs {
		switch m.Src {
		case wire.EntityName{Type: wire.EntityClient, Num: 1}:
			from1++
		case wire.EntityName{Type: wire.EntityClient, Num: 2}:
			from2++
		}
	}
	if from1 != n || from2 != n {
		t.Fatalf("server dispatched %d from the v1 client, %d from the v2 client", from1, from2)
	}
	if got := rs.eventList(); !slices.Equal(got, []string{"accept", "accept"}) {
		t.Fatalf("server events %v", got)
	}
	if srv.C.Accepted.Load() != 2 || srv.C.BadInput.Load() != 0 {
		t.Fatalf("accepted %d, bad input %d", srv.C.Accepted.Load(), srv.C.BadInput.Load())
	}
	if p := s1.PeerAddr(); p.Port != v1.Port || p.Nonce != 1 {
		t.Fatalf("the v1 client's peer is %s, want %s", p, v1)
	}

	// The msgr2 acceptor's SERVER_IDENT lists v2 then v1, and a client
	// that dials the v2 port but names the v1 address as its target is
	// served too (Ceph checks the target against the whole vector).
	q := w.dialP2Target(v2, v1)
	if q == nil {
		t.Fatal("a CLIENT_IDENT naming the v1 address was refused")
	}
	if got := q.p.Peer().Addrs; len(got) != 2 || got[0] != v2 || got[1] != v1 {
		t.Fatalf("SERVER_IDENT addresses %v, want [%s %s]", got, v2.TypedString(), v1.TypedString())
	}
	other := v1
	other.Port++
	if q := w.dialP2Target(v2, other); q != nil {
		t.Fatal("a CLIENT_IDENT naming neither address was accepted")
	}

	// Stop closes both listeners.
	srv.Stop()
	w.settle()
	for _, a := range []wire.EntityAddr{v1, v2} {
		r := &raw{}
		if _, err := w.eng.Dial(a.AddrPort().String(), r, engine.DialOptions{}); err == nil {
			w.settle()
			if !r.isClosed() {
				t.Fatalf("%s still accepts after Stop", a.TypedString())
			}
		}
	}
	if len(srv.ListenAddrs()) != 0 {
		t.Fatalf("ListenAddrs after Stop: %v", srv.ListenAddrs())
	}
}

// dialP2Target is dialP2 to dial's port with CLIENT_IDENT naming target;
// nil if the session did not open.
func (w *world) dialP2Target(dial, target wire.EntityAddr) *p2peer {
	w.t.Helper()
	me := wire.NewEntityAddr(mustAP("0.0.0.0:0"), 9)
	me.Type = wire.AddrTypeAny
	p, err := proto2.NewClient(proto2.ClientConfig{EntityType: wire.EntityClient, AuthID: "9", EntityNum: 9,
		PeerType: wire.EntityOSD, Target: target, Addrs: []wire.EntityAddr{me}, GlobalSeq: 1, Lossy: true})
	if err != nil {
		w.t.Fatal(err)
	}
	q := &p2peer{p: p}
	if _, err := w.eng.Dial(dial.AddrPort().String(), q, engine.DialOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.settle()
	if !q.established() {
		return nil
	}
	return q
}

// A second listener of the same protocol is refused (one address per
// protocol), and the first one keeps working.
func TestDualBindOnePerProtocol(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	w.bind(srv)
	err := srv.Bind("127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "already listening for msgr1") {
		t.Fatalf("second msgr1 Bind: %v", err)
	}
	w.bindV2(srv)
	if err := srv.Bind("v2:127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "already listening for msgr2") {
		t.Fatalf("second msgr2 Bind: %v", err)
	}
	if n := len(srv.ListenAddrs()); n != 2 {
		t.Fatalf("%d listeners", n)
	}
	srv.Stop()
	if err := srv.Bind("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("Bind after Stop: %v", err)
	}
}

// A messenger listening on both protocols that connects over msgr1
// announces its msgr1 address (Ceph's ProtocolV1 uses the addrvec's
// legacy entry), so the peer registers it at the address it listens on
// for msgr1.
func TestDualBindConnectorAnnouncesLegacy(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	addr := w.bind(srv)
	osd1, _ := w.endpoint("osd.1", "lossy_client", 4, nil)
	v1, _ := w.bindBoth(osd1)
	s := w.connect(osd1, wire.EntityOSD, addr, true)
	if err := s.SendMessage(msg(1, 10)); err != nil {
		t.Fatal(err)
	}
	w.settle()
	ss := srv.Sessions()
	if len(ss) != 1 || ss[0].PeerAddr() != v1 {
		var got []string
		for _, x := range ss {
			got = append(got, x.PeerAddr().TypedString())
		}
		t.Fatalf("server's sessions are from %v, want %s", got, v1.TypedString())
	}
}

// TestConnectRace between two endpoints that listen on both protocols
// and connect to each other over msgr1: the race is settled by their v1
// addresses (§11.4), not by the front of the vector (the v2 address, of
// another type, would make each side think the peer's address is the
// lower one).
func TestDualBindConnectRace(t *testing.T) {
	for _, nonces := range [][2]uint32{{1, 2}, {2, 1}, {0x100, 0x1}} {
		p := connectRace(t, nonces, func(w *world, ep *Endpoint) wire.EntityAddr {
			v1, _ := w.bindBoth(ep)
			return v1
		})
		sa, sb := p.sa, p.sb
		aa, ba := p.a.Addrs()[1], p.b.Addrs()[1] // the v1 addresses, which settle the race
		sa.mu.Lock()
		accA := sa.sock.accept
		sa.mu.Unlock()
		sb.mu.Lock()
		accB := sb.sock.accept
		sb.mu.Unlock()
		// Both dial at once (the in-memory engine interleaves them the
		// same way every run): the attempt the lower v1 address made
		// survives, so its side keeps its connector and the other side
		// its acceptor.
		if lowA := aa.Less(ba); accA == lowA || accB != lowA {
			t.Fatalf("nonces %v: a's v1 address lower %v, yet a kept its %s and b its %s socket", nonces, lowA, sockRole(accA), sockRole(accB))
		}
	}
}

func sockRole(accepted bool) string {
	if accepted {
		return "accepted"
	}
	return "connecting"
}

// Listeners bound to a blank IP: SERVER_IDENT names both at the IP the
// client dialled.
func TestDualBindBlankIP(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateless_server", 1, nil)
	rs.echo = true
	for _, a := range []string{"v1:0.0.0.0:0", "v2:0.0.0.0:0"} {
		if err := srv.Bind(a); err != nil {
			t.Fatal(err)
		}
	}
	as := srv.Addrs()
	if len(as) != 2 || !as[0].IsBlankIP() || !as[1].IsBlankIP() {
		t.Fatalf("Addrs %v, want two blank-IP addresses", as)
	}
	v2 := as[0]
	v2.IP = netip.MustParseAddr("127.0.0.1")
	v1 := as[1]
	v1.IP = v2.IP
	q := w.dialP2Target(v2, v1)
	if q == nil {
		t.Fatal("a CLIENT_IDENT naming the v1 address at the dialled IP was refused")
	}
	if got := q.p.Peer().Addrs; len(got) != 2 || got[0] != v2 || got[1] != v1 {
		t.Fatalf("SERVER_IDENT addresses %v, want [%s %s]", got, v2.TypedString(), v1.TypedString())
	}
}
