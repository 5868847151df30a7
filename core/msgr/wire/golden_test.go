package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// unhex turns spaced hex from the spec into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

// §9.3: the MAuth first message of a real 16.2.15 client, byte for byte.
const mauthFrameHex = `07
01000000 00000000 00000000 00000000 1100 7f00 0100 3c000000 00000000 00000000 0000
08 ffffffffffffffff 0100 0000 694babe2
0000000000000000 ffff 0000000000000000 00000000 1e000000
01 01000000 01000000 08000000 05000000 61646d696e 0000000000000000 00000000
5b63a735 00000000 00000000 0000000000000000 01`

const mauthFrontHex = `0000000000000000 ffff 0000000000000000 00000000 1e000000
01 01000000 01000000 08000000 05000000 61646d696e 0000000000000000 00000000`

func TestCRC32CCephVectors(t *testing.T) { // §9.1, Ceph's test_crc32c.cc
	ones := func(n int) []byte { return bytes.Repeat([]byte{1}, n) }
	tests := []struct {
		seed uint32
		in   []byte
		want uint32
	}{
		{0, []byte("foo bar baz"), 4119623852},
		{1234, []byte("foo bar baz"), 881700046},
		{0, []byte("whiz bang boom"), 2360230088},
		{5678, []byte("whiz bang boom"), 3743019208},
		{0, ones(5), 2715569182},
		{0, ones(35), 440531800},
		{0, make([]byte, 49), 0},
		{0, nil, 0},
	}
	for _, tc := range tests {
		if got := CRC32C(tc.seed, tc.in); got != tc.want {
			t.Errorf("CRC32C(%d, %q) = %d, want %d", tc.seed, tc.in, got, tc.want)
		}
	}
}

func TestMAuthVectorEncode(t *testing.T) { // §9.3
	want := unhex(t, mauthFrameHex)
	front := unhex(t, mauthFrontHex)
	h := Header{Seq: 1, Type: 17, Priority: PrioDefault, Version: 1, CompatVersion: 1,
		Src: EntityName{Type: EntityClient, Num: -1}}
	got := AppendMessage(nil, h, front, nil, nil, true, CRCAll)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded MAuth differs:\n got %x\nwant %x", got, want)
	}
}

func TestMAuthVectorDecode(t *testing.T) { // §9.3
	raw := unhex(t, mauthFrameHex)
	if Tag(raw[0]) != TagMsg {
		t.Fatalf("tag %v", Tag(raw[0]))
	}
	fr, n, err := DecodeMessage(raw[1:], true, CRCAll, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(raw)-1 {
		t.Fatalf("used %d of %d", n, len(raw)-1)
	}
	h := fr.Header
	if h.Seq != 1 || h.Type != 17 || h.Priority != 127 || h.FrontLen != 60 || h.Src.Type != EntityClient ||
		h.Src.Num != -1 || h.CompatVersion != 1 || h.CRC != 0xe2ab4b69 {
		t.Fatalf("header %+v", h)
	}
	if fr.Footer.FrontCRC != 0x35a7635b || fr.Footer.Flags != FooterComplete {
		t.Fatalf("footer %+v", fr.Footer)
	}
}

func TestMonReplyCRCs(t *testing.T) { // §9.3 MAuthReply from the mon
	hdr := unhex(t, `0100000000000000 0000000000000000 1200 c400 0100 18000000 00000000
		00000000 0000 01 0000000000000000 0100 0000 71f3a0f8`)
	if err := CheckHeaderCRC(hdr); err != nil {
		t.Fatal(err)
	}
	h, _, _ := DecodeHeader(hdr)
	if h.Type != 18 || h.Priority != PrioHigh || h.Src != (EntityName{Type: EntityMon}) || h.CRC != 0xf8a0f371 {
		t.Fatalf("header %+v", h)
	}
	front := unhex(t, `01000000 00000000 0310000000000000 00000000 00000000`)
	if c := CRC32C(0, front); c != 0xcd31444b {
		t.Fatalf("front crc %#x", c)
	}
	// Round trip: our encoder produces the mon's bytes.
	if got := AppendHeader(nil, h, true); !bytes.Equal(got, hdr) {
		t.Fatalf("re-encoded header %x", got)
	}
}

func TestMonProbeHeader(t *testing.T) { // peers/ceph-mon-as-peer.md §2
	hdr := unhex(t, `0100000000000000 0000000000000000 4300 c400 0800 3f000000 00000000 00000000
		0000 01 0100000000000000 0500 0000 7e91b1bc`)
	if err := CheckHeaderCRC(hdr); err != nil {
		t.Fatal(err)
	}
	h, _, _ := DecodeHeader(hdr)
	if h.Type != 67 || h.Version != 8 || h.CompatVersion != 5 || h.FrontLen != 63 || h.Src.Num != 1 {
		t.Fatalf("header %+v", h)
	}
	foot := unhex(t, `9321db5c 00000000 00000000 0000000000000000 01`)
	f, n, err := DecodeFooter(foot, true)
	if err != nil || n != FooterLen || f.FrontCRC != 0x5cdb2193 || f.Flags != FooterComplete {
		t.Fatalf("footer %+v %d %v", f, n, err)
	}
	bad := bytes.Clone(hdr)
	bad[0] ^= 1
	var ce *CRCError
	if err := CheckHeaderCRC(bad); !errors.As(err, &ce) || ce.What != "header" {
		t.Fatalf("corrupted header: %v", err)
	}
}

func TestMonConnectWithAuthNone(t *testing.T) { // peers/ceph-mon-as-peer.md §2: 51 bytes
	raw := unhex(t, `fffffdffbdcf013f 01000000 01000000 00000000 0d000000 01000000 12000000 00
		01 01000000 01000000 61 0000000000000000`)
	c, n, err := DecodeConnect(raw)
	if err != nil || n != ConnectLen {
		t.Fatal(n, err)
	}
	want := Connect{Features: FeaturesAll, HostType: uint32(EntityMon), GlobalSeq: 1, ProtocolVersion: 13,
		AuthProtocol: AuthNone, AuthLen: 18}
	if c != want {
		t.Fatalf("connect %+v", c)
	}
	a, an, err := DecodeAuthNone(raw[n:])
	if err != nil || an != 18 || a.EntityType != uint32(EntityMon) || a.ID != "a" || a.GlobalID != 0 {
		t.Fatalf("authorizer %+v %d %v", a, an, err)
	}
	enc := AppendAuthNone(AppendConnect(nil, c), a)
	if !bytes.Equal(enc, raw) {
		t.Fatalf("re-encoded %x", enc)
	}
	if a.Len() != 18 {
		t.Fatalf("Len %d", a.Len())
	}
}

func TestTraceHandshake(t *testing.T) { // §15.4 byte trace
	s2c := unhex(t, `6365706820763032 37
		00000000 00000000 0002 b934 7f000001`+strings.Repeat("00", 120)+`
		00000000 00000000 0002 e020 7f000001`+strings.Repeat("00", 120))
	if len(s2c) != 281 {
		t.Fatalf("len %d", len(s2c))
	}
	n, err := DecodeBanner(s2c)
	if err != nil {
		t.Fatal(err)
	}
	srv, m, err := DecodeAddr(s2c[n:])
	if err != nil || m != AddrLen {
		t.Fatal(err)
	}
	me, _, err := DecodeAddr(s2c[n+m:])
	if err != nil {
		t.Fatal(err)
	}
	if srv.AddrPort() != netip.MustParseAddrPort("127.0.0.1:47412") || srv.Nonce != 0 || srv.Type != AddrTypeLegacy {
		t.Fatalf("server addr %v", srv)
	}
	if me.AddrPort() != netip.MustParseAddrPort("127.0.0.1:57376") {
		t.Fatalf("client as seen %v", me)
	}
	c2s := unhex(t, `00000000 e33ede91 0002 0000 7f000001`+strings.Repeat("00", 120)+`
		fffffdffbdcf013f 08000000 01000000 00000000 0f000000 00000000 00000000 00`)
	ca, _, err := DecodeAddr(c2s)
	if err != nil || ca.Nonce != 0x91de3ee3 || ca.Port != 0 {
		t.Fatalf("client addr %v %v", ca, err)
	}
	if got := AppendAddr(nil, ca); !bytes.Equal(got, c2s[:AddrLen]) {
		t.Fatalf("addr re-encode %x", got)
	}
	c, _, err := DecodeConnect(c2s[AddrLen:])
	if err != nil || c.HostType != 8 || c.ProtocolVersion != 15 || c.GlobalSeq != 1 || c.Flags != 0 {
		t.Fatalf("connect %+v %v", c, err)
	}
	reply := unhex(t, `0d fffffdffbdcf013f 15000000 01000000 0f000000 00000000 01 0000000000000000`)
	r, rn, err := DecodeConnectReply(reply)
	if err != nil || r.Tag != TagSeq || r.Features != FeaturesAll || r.GlobalSeq != 0x15 || r.ConnectSeq != 1 ||
		r.ProtocolVersion != 15 || r.Flags != ConnectFlagLossy {
		t.Fatalf("reply %+v %v", r, err)
	}
	if s, _, err := DecodeSeq(reply[rn:]); err != nil || s != 0 {
		t.Fatal(s, err)
	}
	if got := AppendConnectReply(nil, r); !bytes.Equal(got, reply[:rn]) {
		t.Fatalf("reply re-encode %x", got)
	}
	ka := unhex(t, `0e 865d026b 759a3614`)
	ts, _, _ := DecodeTimespec(ka[1:])
	if got := AppendKeepalive2Ack(nil, ts); !bytes.Equal(got[1:], ka[1:]) || Tag(got[0]) != TagKeepalive2Ack {
		t.Fatalf("keepalive2 ack %x", got)
	}
}

func TestObservedReplies(t *testing.T) { // §6.2 table
	tests := []struct {
		hex string
		tag Tag
		fea uint64
	}{
		{`01 fffffdffbdcf013f 07000000 01000000 0f000000 00000000 01`, TagReady, FeaturesAll},
		{`0d fffffdffbdcf013f 01000000 01000000 0f000000 00000000 01`, TagSeq, FeaturesAll}, // a live 16.2.15 mon
		{`0c 0000040200020104 00000000 00000000 0f000000 00000000 00`, TagFeatures, MonClientRequired},
		{`0a fffffdffb9cf013f 00000000 00000000 0f000000 00000000 00`, TagBadProtoVer, FeaturesPacific1610},
	}
	for _, tc := range tests {
		r, _, err := DecodeConnectReply(unhex(t, tc.hex))
		if err != nil || r.Tag != tc.tag || r.Features != tc.fea {
			t.Errorf("%s: %+v %v", tc.hex, r, err)
		}
	}
}

func TestAddrIPv6(t *testing.T) {
	a := NewEntityAddr(netip.MustParseAddrPort("[2001:db8::1]:6789"), 42)
	a.ScopeID = 3
	a.Flowinfo = 0x01020304
	raw := AppendAddr(nil, a)
	if len(raw) != AddrLen || raw[8] != 0 || raw[9] != 10 || raw[10] != 0x1a || raw[11] != 0x85 {
		t.Fatalf("layout %x", raw[:40])
	}
	if !bytes.Equal(raw[12:16], []byte{1, 2, 3, 4}) || raw[16] != 0x20 || raw[32] != 3 {
		t.Fatalf("v6 layout %x", raw[:40])
	}
	b, _, err := DecodeAddr(raw)
	if err != nil || !b.Equal(a) || b.AddrPort() != a.AddrPort() {
		t.Fatalf("round trip %v %v", b, err)
	}
}

func TestAddrRules(t *testing.T) {
	raw := AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:47411"), 0))
	want := unhex(t, `00000000 00000000 0002 b933 7f000001`)
	if !bytes.Equal(raw[:16], want) || !bytes.Equal(raw[16:], make([]byte, 120)) {
		t.Fatalf("v4 layout %x", raw)
	}
	raw[0] = 1
	var ae *AddrError
	if _, _, err := DecodeAddr(raw); !errors.As(err, &ae) {
		t.Fatalf("marker 1: %v", err)
	}
	blank := NewEntityAddr(netip.MustParseAddrPort("0.0.0.0:0"), 7)
	if !blank.IsBlankIP() {
		t.Fatal("0.0.0.0 not blank")
	}
	// §11.4: the nonce's low byte dominates the ordering, not the IP.
	lo := NewEntityAddr(netip.MustParseAddrPort("127.0.0.9:1"), 0x0100)
	hi := NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:1"), 0x0001)
	if !lo.Less(hi) || hi.Less(lo) {
		t.Fatal("race ordering must compare LE nonce first")
	}
}

func TestBanner(t *testing.T) {
	if n, err := DecodeBanner([]byte("ceph v027xyz")); n != 9 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := DecodeBanner([]byte("ceph v028")); err != ErrBadBanner {
		t.Fatal(err)
	}
	if _, err := DecodeBanner([]byte("x")); err != ErrBadBanner {
		t.Fatal("a wrong first byte must fail at once:", err)
	}
}

func TestFooterRules(t *testing.T) { // §8.3, §8.4
	front, data := []byte("front"), []byte("data")
	f := MakeFooter(front, nil, data, CRCAll)
	if err := CheckFooter(f, front, nil, data, CRCAll); err != nil {
		t.Fatal(err)
	}
	ab := f
	ab.Flags = 0
	if err := CheckFooter(ab, front, nil, data, CRCAll); err != ErrAborted {
		t.Fatal(err)
	}
	bd := f
	bd.DataCRC++
	var ce *CRCError
	if err := CheckFooter(bd, front, nil, data, CRCAll); !errors.As(err, &ce) || ce.What != "data" {
		t.Fatal(err)
	}
	nocrc := MakeFooter(front, nil, data, CRCMode{Header: true})
	if nocrc.Flags&FooterNoCRC == 0 || CheckFooter(nocrc, front, nil, data, CRCAll) != nil {
		t.Fatal("NOCRC must skip the data check")
	}
	old := AppendFooter(nil, f, false)
	if len(old) != FooterOldLen {
		t.Fatal(len(old))
	}
	g, _, _ := DecodeFooter(old, false)
	if g != f {
		t.Fatalf("%+v != %+v", g, f)
	}
}

func TestDecodeMessageLimit(t *testing.T) {
	h := Header{Seq: 1, FrontLen: 0xFFFFFFFF, DataLen: 0xFFFFFFFF}
	raw := AppendHeader(nil, h, true)
	var le *LengthError
	if _, _, err := DecodeMessage(raw, true, CRCAll, 128<<20); !errors.As(err, &le) {
		t.Fatalf("want LengthError, got %v", err)
	}
}
