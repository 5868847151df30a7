package proto2

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// captureDir holds what a real ceph-mon 16.2.15 sent over msgr2.1 crc mode
// and the frames of ours it accepted (see its README). They belong to
// wire2, which recorded them; this package only reads them.
const captureDir = "../wire2/testdata/cephmon-16.2"

// captures caches the files: the fuzz targets build fresh machines from
// them on every run.
var captures sync.Map // name → []byte

// capture returns a captured file's bytes; callers must not modify them.
func capture(t testing.TB, name string) []byte {
	t.Helper()
	if b, ok := captures.Load(name); ok {
		return b.([]byte)
	}
	b, err := os.ReadFile(filepath.Join(captureDir, name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	captures.Store(name, b)
	return b
}

// The two directions of the captured exchange, in wire order.
var (
	monFiles = []string{"01-mon-banner", "02-mon-hello", "04-mon-auth_done", "05-mon-auth_signature",
		"07-mon-server_ident", "09-mon-keepalive2_ack", "11-mon-message-mon_get_version_reply"}
	clientFiles = []string{"01-client-banner", "02-client-hello", "03-client-auth_request",
		"05-client-auth_signature", "06-client-client_ident", "08-client-keepalive2", "10-client-message-mon_get_version"}
)

func stream(t testing.TB, files []string) []byte {
	var b []byte
	for _, f := range files {
		b = append(b, capture(t, f)...)
	}
	return b
}

func mustPayload[T any](t testing.TB, frame []byte, dec func([]byte) (T, int, error)) T {
	t.Helper()
	f, _, err := wire2.DecodeFrame(frame, wire2.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := dec(f.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The capture's constants: the KEEPALIVE2 stamp and the MMonGetVersion the
// live test sent.
var captureStamp = wire.Timespec{Sec: 1700000000, Nsec: 123456789}

func captureMessage(t testing.TB) wire2.Message {
	f, _, err := wire2.DecodeFrame(capture(t, "10-client-message-mon_get_version"), wire2.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire2.DecodeMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// captureClientConfig is the client the live capture ran: client.admin,
// lossy, dialling the mon's v2 address (the first of its SERVER_IDENT
// addresses), with a blank address of nonce 0x1234 to be learned.
func captureClientConfig(t testing.TB) ClientConfig {
	si := mustPayload(t, capture(t, "07-mon-server_ident"), wire2.DecodeServerIdent)
	me := wire.NewEntityAddr(netipZero(), 0x1234)
	me.Type = wire.AddrTypeAny
	return ClientConfig{
		EntityType: wire.EntityClient, AuthID: "admin", EntityNum: -1,
		PeerType: wire.EntityMon, Target: si.Addrs[0], Addrs: []wire.EntityAddr{me},
		GlobalSeq: 1, Lossy: true,
	}
}

// captureServerConfig is a server that should answer the captured client
// frames as the mon did: the mon's addresses, global_seq and features, the
// client's address as the mon saw it, global_id 4097.
func captureServerConfig(t testing.TB) ServerConfig {
	si := mustPayload(t, capture(t, "07-mon-server_ident"), wire2.DecodeServerIdent)
	hello := mustPayload(t, capture(t, "02-mon-hello"), wire2.DecodeHello)
	done := mustPayload(t, capture(t, "04-mon-auth_done"), wire2.DecodeAuthDone)
	return ServerConfig{
		EntityType: wire.EntityMon, EntityNum: si.GlobalID, Addrs: si.Addrs, PeerAddr: hello.PeerAddr,
		GlobalID: done.GlobalID, GlobalSeq: si.GlobalSeq, Cookie: 77,
		FeaturesSupported: si.SupportedFeatures, FeaturesRequired: si.RequiredFeatures,
	}
}

// captureClientSide is a client configured as the live capture's, which
// sends the capture's keepalive and message once its session opens.
func captureClientSide(t testing.TB) *side {
	c, err := NewClient(captureClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return newSide(t, c, func(c *Conn, e Event) {
		if e.Kind == EventEstablished {
			c.SendKeepalive(captureStamp)
			c.SendMessage(captureMessage(t))
		}
	})
}

// captureServerSide is a server configured as the captured mon.
func captureServerSide(t testing.TB) *side {
	c, err := NewServer(captureServerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return newSide(t, c, nil)
}

// side drives one Conn the way an engine would: it keeps what Receive did
// not consume, collects everything sent and every event (message sections
// copied out of the input), and runs react on each event.
type side struct {
	t      testing.TB
	c      *Conn
	in     []byte
	sent   []byte
	events []Event
	err    error
	react  func(c *Conn, e Event)
}

func newSide(t testing.TB, c *Conn, react func(*Conn, Event)) *side {
	s := &side{t: t, c: c, react: react}
	s.drain()
	return s
}

// drain moves Output into sent.
func (s *side) drain() []byte {
	out := append([]byte(nil), s.c.Output()...)
	s.sent = append(s.sent, out...)
	return out
}

// feed offers chunk (after what is left over) until Receive stops making
// progress, and returns what the side sent in answer.
func (s *side) feed(chunk []byte) []byte {
	s.in = append(s.in, chunk...)
	var out []byte
	for s.err == nil {
		n, err := s.c.Receive(s.in)
		if n > len(s.in) || n < 0 {
			s.t.Fatalf("Receive used %d of %d bytes", n, len(s.in))
		}
		for _, e := range s.c.Events() {
			e.Message.Front = clone(e.Message.Front)
			e.Message.Middle = clone(e.Message.Middle)
			e.Message.Data = clone(e.Message.Data)
			s.events = append(s.events, e)
			if s.react != nil {
				s.react(s.c, e)
			}
		}
		// The consumed bytes are dropped in place: events were copied
		// out above, and appending behind s.in touches none of them.
		s.in = s.in[n:]
		out = append(out, s.drain()...)
		if err != nil {
			s.err = err
			if again, err2 := s.c.Receive(nil); again != 0 || err2 != err {
				s.t.Fatalf("after a fault Receive returns (%d, %v), want (0, %v)", again, err2, err)
			}
		}
		if n == 0 {
			break
		}
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// chunker splits a delivery.
type chunker func(b []byte) [][]byte

func whole(b []byte) [][]byte { return [][]byte{b} }

func byteByByte(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// run shuttles bytes between the two sides until neither has anything
// more to say.
func run(t testing.TB, cli, srv *side, split chunker) {
	t.Helper()
	toSrv, toCli := cli.sent, srv.sent
	for rounds := 0; len(toSrv)+len(toCli) > 0; rounds++ {
		if rounds > 100 {
			t.Fatal("no quiescence after 100 rounds")
		}
		var nextSrv, nextCli []byte
		for _, ch := range split(toSrv) {
			nextCli = append(nextCli, srv.feed(ch)...)
		}
		for _, ch := range split(toCli) {
			nextSrv = append(nextSrv, cli.feed(ch)...)
		}
		// What a side sent from its react calls outside feed is in
		// drain's result already (feed drains after every Receive).
		toSrv, toCli = nextSrv, nextCli
	}
}

// frames splits a side's sent bytes into the banner and frames, failing
// on anything that does not decode.
func frames(t testing.TB, b []byte) (banner []byte, fs []wire2.Frame) {
	t.Helper()
	if _, n, err := wire2.DecodeBanner(b); err != nil {
		t.Fatalf("banner: %v", err)
	} else {
		banner, b = b[:n], b[n:]
	}
	for len(b) > 0 {
		f, n, err := wire2.DecodeFrame(b, wire2.Limits{})
		if err != nil {
			t.Fatalf("frame %d: %v", len(fs), err)
		}
		fs = append(fs, f)
		b = b[n:]
	}
	return banner, fs
}

// withoutAcks is b without its ACK frames, and the seqs they carried:
// how many ACKs a side writes depends on how its input was cut (one per
// Receive that took messages), nothing else does.
func withoutAcks(t testing.TB, b []byte) ([]byte, []uint64) {
	banner, fs := frames(t, b)
	out := slices.Clone(banner)
	var acks []uint64
	for _, f := range fs {
		if f.Tag() == wire2.TagAck {
			seq, _, _ := wire2.DecodeU64(f.Payload())
			acks = append(acks, seq)
			continue
		}
		segs := make([]wire2.Segment, f.Preamble.NumSegments)
		for i := range segs {
			segs[i] = wire2.Segment{Data: f.Segments[i], Align: f.Preamble.Segments[i].Align}
		}
		out = wire2.AppendFrame(out, f.Tag(), segs...)
	}
	return out, acks
}

func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Seq != y.Seq || x.Stamp != y.Stamp || x.Message.Header != y.Message.Header ||
			!bytes.Equal(x.Message.Front, y.Message.Front) || !bytes.Equal(x.Message.Middle, y.Message.Middle) ||
			!bytes.Equal(x.Message.Data, y.Message.Data) || !samePeer(x.Peer, y.Peer) {
			return false
		}
	}
	return true
}

func samePeer(a, b Peer) bool {
	if len(a.Addrs) != len(b.Addrs) || !a.AddrForMe.Equal(b.AddrForMe) {
		return false
	}
	for i := range a.Addrs {
		if !a.Addrs[i].Equal(b.Addrs[i]) {
			return false
		}
	}
	return a.Name == b.Name && a.GlobalID == b.GlobalID && a.AuthID == b.AuthID && a.GlobalSeq == b.GlobalSeq &&
		a.Features == b.Features && a.PeerFeatures == b.PeerFeatures && a.Cookie == b.Cookie && a.Lossy == b.Lossy
}

func kinds(es []Event) []EventKind {
	var k []EventKind
	for _, e := range es {
		k = append(k, e.Kind)
	}
	return k
}

// faultIs checks that err is a fault (*Error) in state st wrapping target.
func faultIs(t testing.TB, err error, st State, target error) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *proto2.Error", err, err)
	}
	if fe.State != st {
		t.Errorf("fault in %s, want %s: %v", fe.State, st, err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("fault %v does not wrap %v", err, target)
	}
}

// netipZero is 0.0.0.0:0, a blank address to be learned from HELLO.
func netipZero() netip.AddrPort { return netip.AddrPortFrom(netip.IPv4Unspecified(), 0) }
