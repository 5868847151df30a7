package wire2

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
)

var capture = flag.Bool("capture", false, "TestCephMonV2Live: rewrite testdata/"+captureDir+" from the live exchange")

// captureDir holds the bytes a real ceph-mon 16.2 sent (mon-*.bin) and the
// frames we sent it that it accepted (client-*.bin); see its README.
const captureDir = "cephmon-16.2"

// Message types of the one MESSAGE round trip (Ceph's MMonGetVersion).
const (
	msgMonGetVersion      = 19
	msgMonGetVersionReply = 20
)

// liveConn is a plain TCP connection to the mon that decodes what arrives
// with this package's decoders and keeps every frame's bytes.
type liveConn struct {
	t    *testing.T
	c    net.Conn
	in   []byte // everything received; decoded up to off
	off  int
	mon  map[string][]byte
	ours map[string][]byte
}

func (lc *liveConn) send(name string, b []byte) {
	lc.t.Helper()
	lc.ours[name] = b
	if _, err := lc.c.Write(b); err != nil {
		lc.t.Fatalf("send %s: %v", name, err)
	}
}

// fill reads once more from the socket.
func (lc *liveConn) fill(what string) error {
	var buf [4096]byte
	n, err := lc.c.Read(buf[:])
	if err != nil {
		return fmt.Errorf("waiting for %s (have %d bytes %x): %w", what, len(lc.in)-lc.off, lc.in[lc.off:], err)
	}
	lc.in = append(lc.in, buf[:n]...)
	return nil
}

func (lc *liveConn) banner() (Banner, error) {
	for {
		bn, n, err := DecodeBanner(lc.in[lc.off:])
		if err == ErrShort {
			if err := lc.fill("banner"); err != nil {
				return Banner{}, err
			}
			continue
		}
		if err != nil {
			return Banner{}, fmt.Errorf("mon banner: %w", err)
		}
		lc.mon["banner"] = lc.in[lc.off : lc.off+n]
		lc.off += n
		return bn, nil
	}
}

// readFrame reads the next frame, which must carry tag; its bytes are
// kept as mon-<name>.bin.
func (lc *liveConn) readFrame(tag Tag, name string) (Frame, error) {
	for {
		f, n, err := DecodeFrame(lc.in[lc.off:], Limits{})
		if err == ErrShort {
			if err := lc.fill(tag.String()); err != nil {
				return Frame{}, err
			}
			continue
		}
		if err != nil {
			return Frame{}, fmt.Errorf("frame from the mon (want %s): %w", tag, err)
		}
		if f.Tag() != tag || f.Aborted {
			return Frame{}, fmt.Errorf("frame %s (aborted %v), want %s: %x", f.Tag(), f.Aborted, tag, lc.in[lc.off:lc.off+n])
		}
		lc.mon[name] = lc.in[lc.off : lc.off+n]
		lc.off += n
		return f, nil
	}
}

// frame is readFrame for steps that must not fail.
func (lc *liveConn) frame(tag Tag, name string) Frame {
	lc.t.Helper()
	f, err := lc.readFrame(tag, name)
	if err != nil {
		lc.t.Fatal(err)
	}
	return f
}

// authenticate dials the mon's v2 port and runs the exchange up to
// AUTH_DONE.
func authenticate(t *testing.T, mon *peers.CephMon, monAddr wire.EntityAddr, deadline time.Time) (*liveConn, AuthDone) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", mon.V2Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(deadline)
	lc := &liveConn{t: t, c: c, mon: map[string][]byte{}, ours: map[string][]byte{}}
	local := netip.MustParseAddrPort(c.LocalAddr().String())

	// Banner: both sides at once; then HELLO both ways.
	lc.send("banner", AppendBanner(nil, Banner{Supported: SupportedFeatures, Required: RequiredFeatures}))
	peer, err := lc.banner()
	if err != nil {
		t.Fatal(err)
	}
	rev1, err := Negotiate(Banner{Supported: SupportedFeatures}, peer)
	if err != nil || !rev1 || peer != (Banner{Supported: FeatureRevision1}) {
		t.Fatalf("mon banner %+v: rev1 %v, %v", peer, rev1, err)
	}
	lc.send("hello", AppendControl(nil, TagHello, AppendHello(nil, Hello{EntityType: wire.EntityClient, PeerAddr: monAddr})))
	hello, _, err := DecodeHello(lc.frame(TagHello, "hello").Payload())
	if err != nil || hello.EntityType != wire.EntityMon || hello.PeerAddr.AddrPort() != local || hello.PeerAddr.Type != wire.AddrTypeMsgr2 {
		t.Fatalf("mon HELLO %+v (%v); we are %v", hello, err, local)
	}

	// AUTH_REQUEST with auth none, crc mode only → AUTH_DONE.
	lc.send("auth_request", AppendControl(nil, TagAuthRequest, AppendAuthRequest(nil, AuthRequest{
		Method: AuthNone, PreferredModes: []uint32{ConModeCRC},
		Payload: AppendMonAuthRequest(nil, MonAuthRequest{EntityType: wire.EntityClient, ID: "admin"}),
	})))
	done, _, err := DecodeAuthDone(lc.frame(TagAuthDone, "auth_done").Payload())
	if err != nil || done.GlobalID == 0 || done.ConMode != ConModeCRC {
		t.Fatalf("AUTH_DONE %+v: %v", done, err)
	}
	return lc, done
}

// TestCephMonV2Live drives a real ceph-mon 16.2 over msgr2.1 crc mode with
// this package's codecs and a plain net.Conn: banner exchange, HELLO both
// ways, AUTH_REQUEST (auth none) → AUTH_DONE, AUTH_SIGNATURE both ways,
// CLIENT_IDENT → SERVER_IDENT, KEEPALIVE2 → KEEPALIVE2_ACK, and one
// MESSAGE round trip (MMonGetVersion → MMonGetVersionReply). Every frame
// the mon sends is decoded and its crcs checked; every frame we send must
// be accepted (the mon closes the connection on a bad one).
func TestCephMonV2Live(t *testing.T) {
	mon := peers.StartCephMonV2T(t)
	monAddr, err := wire.ParseTypedAddr("v2:" + mon.V2Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	lc, done := authenticate(t, mon, monAddr, time.Now().Add(10*time.Second))
	local := netip.MustParseAddrPort(lc.c.LocalAddr().String())

	// AUTH_SIGNATURE both ways: no session key with auth none, so 32 zeros.
	sig, _, err := DecodeAuthSignature(lc.frame(TagAuthSignature, "auth_signature").Payload())
	if err != nil || sig.Sig != Signature(nil, lc.in[:lc.off]) {
		t.Fatalf("mon AUTH_SIGNATURE %x: %v", sig.Sig, err)
	}
	lc.send("auth_signature", AppendControl(nil, TagAuthSignature, AppendAuthSignature(nil, AuthSignature{Sig: Signature(nil, nil)})))

	// CLIENT_IDENT → SERVER_IDENT, as a lossy client (cookie 0).
	me := wire.NewEntityAddr(local, 0x1234)
	me.Type, me.Port = wire.AddrTypeAny, 0
	lc.send("client_ident", AppendControl(nil, TagClientIdent, AppendClientIdent(nil, ClientIdent{
		Addrs: []wire.EntityAddr{me}, TargetAddr: monAddr, GlobalID: int64(done.GlobalID), GlobalSeq: 1,
		SupportedFeatures: wire.FeaturesAll, RequiredFeatures: FeatureMsgAddr2, Flags: FlagLossy,
	})))
	si, _, err := DecodeServerIdent(lc.frame(TagServerIdent, "server_ident").Payload())
	if err != nil || len(si.Addrs) != 2 || si.Addrs[0].TypedString() != monAddr.TypedString() || si.Flags&FlagLossy == 0 || si.SupportedFeatures&FeatureMsgAddr2 == 0 {
		t.Fatalf("SERVER_IDENT %+v: %v", si, err)
	}

	// KEEPALIVE2 → KEEPALIVE2_ACK echoing our timestamp.
	ts := wire.Timespec{Sec: 1700000000, Nsec: 123456789}
	lc.send("keepalive2", AppendControl(nil, TagKeepalive2, AppendKeepalive(nil, ts)))
	ack, _, err := DecodeKeepalive(lc.frame(TagKeepalive2Ack, "keepalive2_ack").Payload())
	if err != nil || ack != ts {
		t.Fatalf("KEEPALIVE2_ACK %+v, want %+v: %v", ack, ts, err)
	}

	// One MESSAGE each way: MMonGetVersion("osdmap") → MMonGetVersionReply.
	front := binary.LittleEndian.AppendUint64(nil, 5) // handle
	front = binary.LittleEndian.AppendUint32(front, uint32(len("osdmap")))
	front = append(front, "osdmap"...)
	lc.send("message-mon_get_version", AppendMessage(nil, Message{
		Header: MsgHeader2{Seq: 1, Tid: 42, Type: msgMonGetVersion, Priority: 127, Version: 1, CompatVersion: 1, Flags: 1},
		Front:  front,
	}))
	m, err := DecodeMessage(lc.frame(TagMessage, "message-mon_get_version_reply"))
	if err != nil || m.Header.Type != msgMonGetVersionReply || m.Header.Tid != 42 || m.Header.Seq != 1 || len(m.Front) < 16 ||
		binary.LittleEndian.Uint64(m.Front) != 5 || binary.LittleEndian.Uint64(m.Front[8:]) < 1 {
		t.Fatalf("MMonGetVersionReply %+v front %x: %v", m.Header, m.Front, err)
	}
	if lc.off != len(lc.in) {
		t.Fatalf("%d unexpected bytes after the reply: %x", len(lc.in)-lc.off, lc.in[lc.off:])
	}
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
	if *capture {
		writeCapture(t, lc)
	}
}

func writeCapture(t *testing.T, lc *liveConn) {
	dir := filepath.Join("testdata", captureDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range captureOrder {
		for prefix, m := range map[string]map[string][]byte{"mon": lc.mon, "client": lc.ours} {
			b, ok := m[name]
			if !ok {
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("%02d-%s-%s.bin", i+1, prefix, name))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// captureOrder numbers the capture files in the order of the exchange.
var captureOrder = []string{"banner", "hello", "auth_request", "auth_done", "auth_signature",
	"client_ident", "server_ident", "keepalive2", "keepalive2_ack",
	"message-mon_get_version", "message-mon_get_version_reply"}
