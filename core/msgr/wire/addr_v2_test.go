package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// A v2 address laid out as a 16.2.15 mon encodes it in HELLO (captured in
// core/msgr/wire2/testdata/cephmon-16.2/02-mon-hello.bin, here with port
// 3300): marker 1, v1 compat 1, body 28, type 2, nonce 0, sockaddr_in of
// 16 bytes with the family little-endian.
const addrV2Hex = `01 01 01 1c000000 02000000 00000000 10000000 0200 0ce4 7f000001 0000000000000000`

func TestAddrV2Table(t *testing.T) {
	v4 := NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:3300"), 0)
	v4.Type = AddrTypeMsgr2
	v6 := NewEntityAddr(netip.MustParseAddrPort("[2001:db8::1]:3300"), 7)
	v6.Type, v6.Flowinfo, v6.ScopeID = AddrTypeAny, 0x01020304, 5
	for _, tc := range []struct {
		name string
		a    EntityAddr
		hex  string
		text string
	}{
		{"v4", v4, addrV2Hex, "v2:127.0.0.1:3300/0"},
		{"v6", v6, `01 01 01 28000000 03000000 07000000 1c000000 0a00 0ce4 01020304 20010db8000000000000000000000001 05000000`, "[2001:db8::1]:3300/7"},
		{"none", EntityAddr{}, `01 01 01 0c000000 00000000 00000000 00000000`, "-"},
	} {
		want := unhex(t, tc.hex)
		got := AppendAddrV2(nil, tc.a)
		if !bytes.Equal(got, want) || AddrV2Len(tc.a) != len(want) {
			t.Errorf("%s: encode %x, want %x (Len %d)", tc.name, got, want, AddrV2Len(tc.a))
		}
		a, n, err := DecodeAddrAny(want)
		if err != nil || n != len(want) || a.Key() != tc.a.Key() {
			t.Errorf("%s: decode %+v n=%d err=%v", tc.name, a, n, err)
		}
		if s := a.TypedString(); s != tc.text {
			t.Errorf("%s: text %q, want %q", tc.name, s, tc.text)
		}
	}
}

func TestAddrVecAndLegacyMarker(t *testing.T) {
	v2, _ := ParseTypedAddr("v2:127.0.0.1:3300/0")
	v1, _ := ParseTypedAddr("v1:127.0.0.1:6789/0")
	enc := AppendAddrVec(nil, []EntityAddr{v2, v1})
	v, n, err := DecodeAddrVec(enc)
	if err != nil || n != len(enc) || len(v) != 2 || v[0].TypedString() != "v2:127.0.0.1:3300/0" || v[1].TypedString() != "v1:127.0.0.1:6789/0" {
		t.Fatalf("vec: %v n=%d err=%v", v, n, err)
	}
	// Marker 0: the 136-byte legacy block stands for one address.
	legacy := AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("10.0.0.1:6789"), 3))
	v, n, err = DecodeAddrVec(legacy)
	if err != nil || n != AddrLen || len(v) != 1 || v[0].Type != AddrTypeLegacy || v[0].Nonce != 3 {
		t.Fatalf("legacy in vec: %v n=%d err=%v", v, n, err)
	}
	// A claimed count above the bound fails before any allocation.
	huge := append([]byte{2}, 0xff, 0xff, 0xff, 0xff)
	if _, _, err := DecodeAddrVec(huge); err == nil || errors.Is(err, ErrShort) {
		t.Fatalf("count 2^32-1: %v", err)
	}
	var ae *AddrError
	if _, _, err := DecodeAddrAny([]byte{9}); !errors.As(err, &ae) {
		t.Fatalf("marker 9: %v", err)
	}
}

func TestParseTypedAddr(t *testing.T) {
	for in, want := range map[string]string{
		"v2:127.0.0.1:3300/0":  "v2:127.0.0.1:3300/0",
		"v1:127.0.0.1:6789":    "v1:127.0.0.1:6789/0",
		"127.0.0.1:6789/12":    "127.0.0.1:6789/12",
		"any:[::1]:3300/1":     "[::1]:3300/1",
		"v2:[2001:db8::5]:1/0": "v2:[2001:db8::5]:1/0",
	} {
		a, err := ParseTypedAddr(in)
		if err != nil || a.TypedString() != want {
			t.Errorf("%q: %q, %v; want %q", in, a.TypedString(), err, want)
		}
	}
	for _, bad := range []string{"v2:", "v2:127.0.0.1", "v2:127.0.0.1:3300/x", "v3:1.2.3.4:5"} {
		if _, err := ParseTypedAddr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestAddrV2CutEveryOffset(t *testing.T) {
	v2, _ := ParseTypedAddr("v2:[::1]:3300/9")
	for _, valid := range [][]byte{unhex(t, addrV2Hex), AppendAddrVec(nil, []EntityAddr{v2, v2})} {
		for i := range len(valid) {
			cut := append([]byte(nil), valid[:i]...)
			if _, n, err := DecodeAddrVec(cut); err != ErrShort || n != 0 {
				t.Errorf("%x cut at %d: n=%d err=%v", valid, i, n, err)
			}
		}
	}
}

func FuzzDecodeAddrVec(f *testing.F) {
	f.Add(unhex(f, addrV2Hex))
	v2, _ := ParseTypedAddr("v2:[::1]:3300/9")
	f.Add(AppendAddrVec(nil, []EntityAddr{v2, v2}))
	f.Add(AppendAddr(nil, v2))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := DecodeAddrVec(b)
		if err != nil {
			return
		}
		if n > len(b) || len(v) > MaxAddrVec {
			t.Fatalf("n=%d len=%d count=%d", n, len(b), len(v))
		}
		// What decoded re-encodes to something that decodes the same.
		again, _, err := DecodeAddrVec(AppendAddrVec(nil, v))
		if err != nil || len(again) != len(v) {
			t.Fatalf("round trip: %v %v", again, err)
		}
		for i := range v {
			if v[i].Family != FamilyInet && v[i].Family != FamilyInet6 {
				continue // other families lose their sockaddr, as in Ceph
			}
			if again[i].Key() != v[i].Key() {
				t.Fatalf("round trip %d: %+v -> %+v", i, v[i], again[i])
			}
		}
	})
}
