package msgr1

import (
	"bytes"
	"encoding/hex"
	"net"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ceph's src/test/common/test_crc32c.cc values (§9.1).
func TestCRCCephVectors(t *testing.T) {
	ones := func(n int) []byte { return bytes.Repeat([]byte{1}, n) }
	for _, tc := range []struct {
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
	} {
		if got := CRCSeed(tc.seed, tc.in); got != tc.want {
			t.Errorf("crc(%d, %q) = %d, want %d", tc.seed, tc.in, got, tc.want)
		}
	}
}

// mauthFrame is the §9.3 vector: byte-identical to a real 16.2.15 client.
const mauthFrame = `07
01000000 00000000 00000000 00000000 1100 7f00 0100 3c000000 00000000 00000000 0000 08 ffffffffffffffff 0100 0000 694babe2
0000000000000000 ffff 0000000000000000 00000000 1e000000 01 01000000 01000000 08000000 05000000 61646d696e 0000000000000000 00000000
5b63a735 00000000 00000000 0000000000000000 01`

func TestMAuthVector(t *testing.T) {
	want := unhex(t, mauthFrame)
	front := want[1+HeaderLen : 1+HeaderLen+60]
	m := Message{Header: Header{Seq: 1, Type: 17, Priority: 127, Version: 1, SrcType: EntityClient, SrcNum: -1, Compat: 1}, Front: front}.Seal()
	if got := m.AppendFrame(nil, false); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	h, ok, err := DecodeHeader(want[1:])
	if err != nil || !ok || h.CRC != 0xe2ab4b69 || h.FrontLen != 60 {
		t.Fatalf("decode: %+v ok=%v err=%v", h, ok, err)
	}
	f, _ := DecodeFooter(want[1+HeaderLen+60:], false)
	if f.FrontCRC != 0x35a7635b || f.Flags != FooterComplete {
		t.Fatalf("footer %+v", f)
	}
	// Mon reply header observed live (§9.3).
	rh := unhex(t, "0100000000000000 0000000000000000 1200 c400 0100 18000000 00000000 00000000 0000 01 0000000000000000 0100 0000 71f3a0f8")
	if _, ok, _ := DecodeHeader(rh); !ok {
		t.Fatal("live mon header crc does not verify")
	}
	if got := CRC(unhex(t, "01000000 00000000 0310000000000000 00000000 00000000")); got != 0xcd31444b {
		t.Fatalf("mon front crc %#x", got)
	}
}

// The connect + authorizer a real mon.a sent (peers/ceph-mon-as-peer.md §2)
// and the SEQ reply it accepted; the client connect from §15.4.
func TestHandshakeVectors(t *testing.T) {
	b := unhex(t, "fffffdffbdcf013f 01000000 01000000 00000000 0d000000 01000000 12000000 00")
	c, err := DecodeConnect(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Connect{Features: FeaturesAll, HostType: EntityMon, GlobalSeq: 1, ProtocolVersion: ProtoMonMon, AuthProtocol: 1, AuthLen: 18}
	if c != want {
		t.Fatalf("connect %+v, want %+v", c, want)
	}
	if !bytes.Equal(c.Append(nil), b) {
		t.Fatal("connect does not round-trip")
	}
	rb := unhex(t, "0d fffffdffbdcf013f 01000000 01000000 0d000000 00000000 00")
	r, _ := DecodeConnectReply(rb)
	if r.Tag != TagSeq || r.Features != FeaturesAll || r.ConnectSeq != 1 || r.ProtocolVersion != 13 {
		t.Fatalf("reply %+v", r)
	}
	if !bytes.Equal(r.Append(nil), rb) {
		t.Fatal("reply does not round-trip")
	}
	if ProtocolFor(EntityMon, EntityMon) != 13 || ProtocolFor(EntityClient, EntityMon) != 15 || ProtocolFor(EntityClient, EntityOSD) != 24 {
		t.Fatal("protocol table")
	}
}

// §4 example: mon 127.0.0.1:47411 nonce 0.
func TestAddrVector(t *testing.T) {
	want := append(unhex(t, "00000000 00000000 0002 b933 7f000001"), make([]byte, 120)...)
	a := AddrFrom(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 47411}, 0)
	if got := a.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("addr %x", got)
	}
	d, err := DecodeAddr(want)
	if err != nil || !d.Equal(a) {
		t.Fatalf("decode %v %v", d, err)
	}
	bad := append([]byte(nil), want...)
	bad[0] = 1
	if _, err := DecodeAddr(bad); err == nil {
		t.Fatal("marker 1 accepted")
	}
}

// Every decoder asks for more bytes on every strict prefix of a vector.
func TestPrefixesNeedMore(t *testing.T) {
	frame := unhex(t, mauthFrame)
	for i := 0; i < HeaderLen; i++ {
		if _, _, err := DecodeHeader(frame[1 : 1+i]); err != ErrShort {
			t.Fatalf("header prefix %d: %v", i, err)
		}
	}
	for i := 0; i < ConnectLen; i++ {
		if _, err := DecodeConnect(make([]byte, i)); err != ErrShort {
			t.Fatalf("connect prefix %d", i)
		}
	}
	for i := 0; i < AddrLen; i++ {
		if _, err := DecodeAddr(make([]byte, i)); err != ErrShort {
			t.Fatalf("addr prefix %d", i)
		}
	}
}

func FuzzDecoders(f *testing.F) {
	f.Add(unhex(f, mauthFrame))
	f.Add(unhex(f, "0d fffffdffbdcf013f 01000000 01000000 0d000000 00000000 00 0000000000000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, ok, err := DecodeHeader(b); err == nil {
			enc := h.Append(nil)
			if !bytes.Equal(enc, b[:HeaderLen]) {
				t.Fatal("header round trip")
			}
			_ = ok
		}
		if c, err := DecodeConnect(b); err == nil && !bytes.Equal(c.Append(nil), b[:ConnectLen]) {
			t.Fatal("connect round trip")
		}
		if r, err := DecodeConnectReply(b); err == nil && !bytes.Equal(r.Append(nil), b[:ConnectReplyLen]) {
			t.Fatal("reply round trip")
		}
		_, _ = DecodeAddr(b)
		_, _ = DecodeFooter(b, false)
		_, _ = DecodeFooter(b, true)
	})
}
