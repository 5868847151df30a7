package proto2

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

func mustAddr(t testing.TB, s string) wire.EntityAddr {
	a, err := wire.ParseTypedAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// scenario is one client/server pair and what each does once the session
// opens (the only moments a test sends, so every run of a scenario sends
// the same bytes whatever the cuts).
type scenario struct {
	name    string
	cli     ClientConfig
	srv     ServerConfig
	cliSend []wire2.Message
	srvSend []wire2.Message
}

var (
	cliStamp = wire.Timespec{Sec: 10, Nsec: 1}
	srvStamp = wire.Timespec{Sec: 20, Nsec: 2}
)

func testMessage(typ uint16, tid uint64, front, middle, data string) wire2.Message {
	m := wire2.Message{Header: wire2.MsgHeader2{Tid: tid, Type: typ, Priority: 127, Version: 1, CompatVersion: 1, Flags: 3}}
	if front != "" {
		m.Front = []byte(front)
	}
	if middle != "" {
		m.Middle = []byte(middle)
	}
	if data != "" {
		m.Data = []byte(data)
	}
	return m
}

func scenarios(t testing.TB) []scenario {
	monV2 := mustAddr(t, "v2:127.0.0.1:3300/0")
	monV1 := mustAddr(t, "127.0.0.1:6789/0")
	osdV2 := mustAddr(t, "v2:127.0.0.1:6800/4242")
	cliAddr := mustAddr(t, "127.0.0.1:0/99")
	cliAddr.Type = wire.AddrTypeAny
	blank := wire.NewEntityAddr(netipZero(), 7)
	blank.Type = wire.AddrTypeAny
	seen := mustAddr(t, "v2:127.0.0.1:50000/0")
	return []scenario{
		{
			name: "client to mon, lossy, address learned",
			cli: ClientConfig{EntityType: wire.EntityClient, AuthID: "admin", EntityNum: -1, PeerType: wire.EntityMon,
				Target: monV2, Addrs: []wire.EntityAddr{blank}, GlobalSeq: 1, Lossy: true},
			srv: ServerConfig{EntityType: wire.EntityMon, EntityNum: 0, Addrs: []wire.EntityAddr{monV2, monV1},
				PeerAddr: seen, GlobalID: 4100, GlobalSeq: 9, Cookie: 5},
			cliSend: []wire2.Message{testMessage(19, 1, "front", "", "")},
			srvSend: []wire2.Message{testMessage(20, 1, "reply", "mid", "data")},
		},
		{
			name: "osd to osd, lossless, authorizer",
			cli: ClientConfig{EntityType: wire.EntityOSD, AuthID: "1", EntityNum: 1, GlobalID: 4200, PeerType: wire.EntityOSD,
				Target: osdV2, Addrs: []wire.EntityAddr{cliAddr}, GlobalSeq: 3, Cookie: 0xc1},
			srv: ServerConfig{EntityType: wire.EntityOSD, EntityNum: 0, Addrs: []wire.EntityAddr{osdV2},
				PeerAddr: seen, GlobalID: 1, GlobalSeq: 11, Cookie: 0x5e},
			cliSend: []wire2.Message{testMessage(0x7e01, 1, "a", "", ""), testMessage(0x7e01, 2, "bb", "", string(make([]byte, 300)))},
			srvSend: []wire2.Message{testMessage(0x7e02, 1, "c", "", "")},
		},
	}
}

// pair builds the two sides of sc: each sends its messages and a keepalive
// as soon as its session opens.
func (sc scenario) pair(t testing.TB) (cli, srv *side) {
	t.Helper()
	cc, err := NewClient(sc.cli)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := NewServer(sc.srv)
	if err != nil {
		t.Fatal(err)
	}
	return newSide(t, cc, sc.onOpen(t, sc.cliSend, cliStamp)), newSide(t, sv, sc.onOpen(t, sc.srvSend, srvStamp))
}

func (sc scenario) onOpen(t testing.TB, msgs []wire2.Message, ts wire.Timespec) func(*Conn, Event) {
	return func(c *Conn, e Event) {
		if e.Kind != EventEstablished {
			return
		}
		for i, m := range msgs {
			if seq, err := c.SendMessage(m); err != nil || seq != uint64(i+1) {
				t.Fatalf("SendMessage %d: seq %d, %v", i, seq, err)
			}
		}
		if err := c.SendKeepalive(ts); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHandshake runs our client against our server in memory, whole
// deliveries and byte by byte: both open the session with what the other
// said, messages arrive once and in order with their seqs, keepalives are
// answered, and a lossless session's ACKs reach the sender.
func TestHandshake(t *testing.T) {
	for _, sc := range scenarios(t) {
		for _, split := range []struct {
			name string
			f    chunker
		}{{"whole", whole}, {"byte by byte", byteByByte}} {
			t.Run(sc.name+"/"+split.name, func(t *testing.T) {
				cli, srv := sc.pair(t)
				run(t, cli, srv, split.f)
				if cli.err != nil || srv.err != nil {
					t.Fatalf("faults: client %v, server %v", cli.err, srv.err)
				}
				cp, sp := cli.c.Peer(), srv.c.Peer()
				lossy := sc.srv.Lossy == nil && sc.cli.EntityType == wire.EntityClient
				wantGID := sc.srv.GlobalID
				if sc.cli.PeerType != wire.EntityMon {
					wantGID = sc.cli.GlobalID
				}
				wantNum := sc.cli.EntityNum
				if wantNum < 0 {
					wantNum = int64(wantGID)
				}
				if cp.Name != (wire.EntityName{Type: sc.srv.EntityType, Num: sc.srv.EntityNum}) || cp.GlobalID != wantGID ||
					cp.GlobalSeq != sc.srv.GlobalSeq || cp.Lossy != lossy || !cp.AddrForMe.Equal(sc.srv.PeerAddr) ||
					cp.Features != wire.FeaturesAll || !slices.EqualFunc(cp.Addrs, sc.srv.Addrs, wire.EntityAddr.Equal) {
					t.Errorf("client's peer %+v", cp)
				}
				if sp.Name != (wire.EntityName{Type: sc.cli.EntityType, Num: wantNum}) || sp.GlobalID != wantGID ||
					sp.AuthID != sc.cli.AuthID || sp.GlobalSeq != sc.cli.GlobalSeq || sp.Lossy != lossy ||
					!sp.AddrForMe.Equal(sc.cli.Target) || sp.Features != wire.FeaturesAll {
					t.Errorf("server's peer %+v", sp)
				}
				if lossy && (sp.Cookie != 0 || cp.Cookie != 0) || !lossy && (sp.Cookie != sc.cli.Cookie || cp.Cookie != sc.srv.Cookie) {
					t.Errorf("cookies: server saw %#x, client saw %#x", sp.Cookie, cp.Cookie)
				}
				// A blank address is completed with the IP the server sees.
				if a := sp.Addrs[0]; a.IsBlankIP() || a.IP != sc.srv.PeerAddr.IP || a.Nonce != sc.cli.Addrs[0].Nonce || a.Type != sc.cli.Addrs[0].Type {
					t.Errorf("client address as the server got it: %s", a.TypedString())
				}
				checkReceived(t, "server", srv.events, sc.cliSend, cliStamp, lossy, len(sc.srvSend))
				checkReceived(t, "client", cli.events, sc.srvSend, srvStamp, lossy, len(sc.cliSend))
			})
		}
	}
}

// checkReceived: one EventEstablished first, then the peer's messages in
// order with seqs 1..n and their content, its keepalive, and (lossless)
// acks of everything we sent.
func checkReceived(t *testing.T, who string, es []Event, want []wire2.Message, ts wire.Timespec, lossy bool, sent int) {
	t.Helper()
	if len(es) == 0 || es[0].Kind != EventEstablished {
		t.Fatalf("%s events %v", who, kinds(es))
	}
	var got []wire2.Message
	var acked uint64
	keepalives := 0
	for _, e := range es[1:] {
		switch e.Kind {
		case EventMessage:
			if e.Seq != uint64(len(got)+1) || e.Message.Header.Seq != e.Seq {
				t.Errorf("%s: message seq %d after %d", who, e.Seq, len(got))
			}
			got = append(got, e.Message)
		case EventAck:
			if e.Seq <= acked {
				t.Errorf("%s: ack %d after %d", who, e.Seq, acked)
			}
			acked = e.Seq
		case EventKeepalive:
			keepalives++
			if e.Stamp != ts {
				t.Errorf("%s: keepalive %v", who, e.Stamp)
			}
		case EventKeepaliveAck:
		default:
			t.Errorf("%s: event %v", who, e.Kind)
		}
	}
	if len(got) != len(want) || keepalives != 1 {
		t.Fatalf("%s got %d messages (want %d), %d keepalives", who, len(got), len(want), keepalives)
	}
	for i := range want {
		w := want[i].Header
		w.Seq, w.AckSeq = got[i].Header.Seq, got[i].Header.AckSeq
		if got[i].Header != w || !bytes.Equal(got[i].Front, want[i].Front) || !bytes.Equal(got[i].Middle, want[i].Middle) || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("%s: message %d is %+v", who, i, got[i].Header)
		}
	}
	if !lossy && acked != uint64(sent) {
		t.Errorf("%s: peer acked %d of %d", who, acked, sent)
	}
}

// TestCutEveryOffset replays what each side received in a reference run
// to a fresh machine of the same role, cut in two at every offset and fed
// byte by byte: the events are the same, and so is everything it sends
// except how many ACKs (one per Receive that took messages), whose seqs
// only grow.
func TestCutEveryOffset(t *testing.T) {
	for _, sc := range scenarios(t) {
		cli, srv := sc.pair(t)
		run(t, cli, srv, whole)
		if cli.err != nil || srv.err != nil {
			t.Fatalf("%s: reference run: %v, %v", sc.name, cli.err, srv.err)
		}
		for _, role := range []struct {
			name  string
			ref   *side
			input []byte
			fresh func() *side
		}{
			{"server", srv, cli.sent, func() *side { _, s := sc.pair(t); return s }},
			{"client", cli, srv.sent, func() *side { c, _ := sc.pair(t); return c }},
		} {
			t.Run(sc.name+"/"+role.name, func(t *testing.T) {
				refOut, _ := withoutAcks(t, role.ref.sent)
				check := func(how string, s *side) {
					t.Helper()
					if s.err != nil {
						t.Fatalf("%s: %v", how, s.err)
					}
					if len(s.in) != 0 {
						t.Fatalf("%s: %d bytes left unconsumed", how, len(s.in))
					}
					if !sameEvents(s.events, role.ref.events) {
						t.Fatalf("%s: events %v, want %v", how, kinds(s.events), kinds(role.ref.events))
					}
					out, acks := withoutAcks(t, s.sent)
					if !bytes.Equal(out, refOut) {
						t.Fatalf("%s: sent %d bytes (ACKs aside), reference %d", how, len(out), len(refOut))
					}
					for i := 1; i < len(acks); i++ {
						if acks[i] <= acks[i-1] {
							t.Fatalf("%s: ACK seqs %v", how, acks)
						}
					}
				}
				for k := 0; k <= len(role.input); k++ {
					s := role.fresh()
					s.feed(role.input[:k])
					s.feed(role.input[k:])
					check(fmt.Sprintf("cut at %d", k), s)
				}
				s := role.fresh()
				for _, b := range byteByByte(role.input) {
					s.feed(b)
				}
				check("byte by byte", s)
			})
		}
	}
}
