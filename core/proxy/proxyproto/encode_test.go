package proxyproto

import (
	"net/netip"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestRoundTrip: Decode(Append(h)) == h for every form the encoder
// supports, v1 and v2.
func TestRoundTrip(t *testing.T) {
	tlvs := []TLV{
		{TypeCRC32C, make([]byte, 4)},
		{TypeALPN, []byte("h2")},
		{TypeAuthority, []byte("example.com")},
		{TypeUniqueID, []byte{}},
		{TypeSSL, []byte{0x01, 0, 0, 0, 0, SubtypeSSLVersion, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3'}},
		{0xEA, []byte{0x01, 'v', 'p', 'c'}},
	}
	tests := []struct {
		name string
		h    Header
		v1   bool // also representable in v1
	}{
		{"tcp4", Header{Command: CmdProxy, Transport: TCP4, Source: ap("192.0.2.10:40000"), Destination: ap("198.51.100.20:443")}, true},
		{"tcp4 max", Header{Command: CmdProxy, Transport: TCP4, Source: ap("255.255.255.255:65535"), Destination: ap("255.255.255.255:65535")}, true},
		{"tcp4 zero", Header{Command: CmdProxy, Transport: TCP4, Source: ap("0.0.0.0:0"), Destination: ap("0.0.0.0:0")}, true},
		{"tcp6", Header{Command: CmdProxy, Transport: TCP6, Source: ap("[2001:db8::10]:40000"), Destination: ap("[2001:db8::20]:443")}, true},
		{"tcp6 full", Header{Command: CmdProxy, Transport: TCP6, Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Destination: ap("[1:2:3:4:5:6:7:8]:1")}, true},
		{"tcp6 v4-mapped", Header{Command: CmdProxy, Transport: TCP6, Source: ap("[::ffff:127.0.0.2]:40005"), Destination: ap("[::ffff:127.0.0.1]:8005")}, true},
		{"local", Header{Command: CmdLocal}, true},
		{"local with TLVs", Header{Command: CmdLocal, TLVs: tlvs[:1]}, false},
		{"tcp4 TLVs", Header{Command: CmdProxy, Transport: TCP4, Source: ap("127.0.0.2:1"), Destination: ap("127.0.0.1:2"), TLVs: tlvs}, false},
		{"tcp6 TLVs", Header{Command: CmdProxy, Transport: TCP6, Source: ap("[::1]:1"), Destination: ap("[::1]:2"), TLVs: tlvs}, false},
		{"udp4", Header{Command: CmdProxy, Transport: UDP4, Source: ap("10.0.0.1:53"), Destination: ap("10.0.0.2:53")}, false},
		{"udp6", Header{Command: CmdProxy, Transport: UDP6, Source: ap("[fe80::1]:53"), Destination: ap("[fe80::2]:53")}, false},
		{"unix", Header{Command: CmdProxy, Transport: UnixStream, SourcePath: "/run/a.sock", DestinationPath: strings.Repeat("p", 108)}, false},
		{"unix dgram", Header{Command: CmdProxy, Transport: UnixDgram, SourcePath: "", DestinationPath: "/d"}, false},
		{"unspec proxy", Header{Command: CmdProxy, Transport: TransportUnspec}, false},
	}
	for _, tc := range tests {
		for _, v := range []int{1, 2} {
			if v == 1 && !tc.v1 {
				continue
			}
			h := tc.h
			h.Version = v
			var b []byte
			var err error
			if v == 1 {
				b, err = h.AppendV1([]byte("prefix"))
			} else {
				b, err = h.AppendV2([]byte("prefix"))
			}
			if err != nil {
				t.Fatalf("%s v%d: %v", tc.name, v, err)
			}
			if string(b[:6]) != "prefix" {
				t.Fatalf("%s v%d: clobbered dst", tc.name, v)
			}
			got, n, err := Decode(append(b[6:], "payload"...))
			if err != nil {
				t.Fatalf("%s v%d: decode %q: %v", tc.name, v, b[6:], err)
			}
			// The encoder computed the CRC32C value and Decode verified it;
			// compare the rest.
			want := h
			if crc, ok := got.TLV(TypeCRC32C); ok {
				want.TLVs = append([]TLV(nil), h.TLVs...)
				for i := range want.TLVs {
					if want.TLVs[i].Type == TypeCRC32C {
						want.TLVs[i].Value = crc
					}
				}
			}
			if n != len(b)-6 || !equalHeader(got, want) {
				t.Errorf("%s v%d: got %s (%d bytes), want %s (%d bytes)", tc.name, v, got, n, h, len(b)-6)
			}
			if (v == 1 && h.LenV1() != n) || (v == 2 && h.LenV2() != n) {
				t.Errorf("%s v%d: Len %d/%d, wrote %d", tc.name, v, h.LenV1(), h.LenV2(), n)
			}
		}
	}
}

func TestAppendV1Forms(t *testing.T) {
	tests := []struct {
		h    Header
		want string
	}{
		{Header{Command: CmdProxy, Transport: TCP6, Source: ap("[2001:DB8:0:0:0:0:0:2]:40007"), Destination: ap("[2001:db8::1]:8007")},
			"PROXY TCP6 2001:db8::2 2001:db8::1 40007 8007\r\n"},
		{Header{Command: CmdLocal, Transport: TCP4}, "PROXY UNKNOWN\r\n"},
		{Header{Command: CmdProxy, Transport: UDP4, Source: ap("1.2.3.4:1"), Destination: ap("1.2.3.4:2")}, "PROXY UNKNOWN\r\n"},
		{Header{Command: CmdProxy, Transport: UnixStream, SourcePath: "/x"}, "PROXY UNKNOWN\r\n"},
	}
	for _, tc := range tests {
		got, err := tc.h.AppendV1(nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.h, got, err, tc.want)
		}
	}
}

func TestAppendErrors(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"tcp4 with IPv6", Header{Command: CmdProxy, Transport: TCP4, Source: ap("[::1]:1"), Destination: ap("127.0.0.1:2")}},
		{"tcp6 with IPv4", Header{Command: CmdProxy, Transport: TCP6, Source: ap("[::1]:1"), Destination: ap("127.0.0.1:2")}},
		{"zone", Header{Command: CmdProxy, Transport: TCP6, Source: netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 1), Destination: ap("[::1]:2")}},
		{"unset", Header{Command: CmdProxy, Transport: TCP4}},
		{"bad command", Header{Command: 7, Transport: TCP4, Source: ap("1.1.1.1:1"), Destination: ap("1.1.1.1:1")}},
	}
	for _, tc := range tests {
		if b, err := tc.h.AppendV1(nil); err == nil {
			t.Errorf("%s: v1 wrote %q", tc.name, b)
		}
		if b, err := tc.h.AppendV2(nil); err == nil {
			t.Errorf("%s: v2 wrote %x", tc.name, b)
		}
	}
	big := Header{Command: CmdLocal, TLVs: []TLV{{0xE0, make([]byte, MaxV2Length)}}}
	if _, err := big.AppendV2(nil); err == nil {
		t.Error("v2 wrote a header longer than 65535")
	}
	if _, err := (Header{Command: CmdProxy, Transport: UnixStream, SourcePath: strings.Repeat("p", 109)}).AppendV2(nil); err == nil {
		t.Error("v2 wrote a 109-byte UNIX path")
	}
}

func TestNewProxy(t *testing.T) {
	tests := []struct {
		src, dst string
		tr       Transport
		wantSrc  string
	}{
		{"127.0.0.2:40001", "127.0.0.1:8001", TCP4, "127.0.0.2:40001"},
		{"[::1]:1", "[::1]:2", TCP6, "[::1]:1"},
		{"127.0.0.2:1", "[::1]:2", TCP6, "[::ffff:127.0.0.2]:1"},
		{"[::ffff:127.0.0.2]:1", "[::ffff:127.0.0.1]:2", TCP6, "[::ffff:127.0.0.2]:1"},
	}
	for _, tc := range tests {
		h, err := NewProxy(2, ap(tc.src), ap(tc.dst))
		if err != nil || h.Transport != tc.tr || h.Source != ap(tc.wantSrc) {
			t.Errorf("NewProxy(%s, %s) = %s, %v", tc.src, tc.dst, h, err)
		}
		if _, err := h.AppendV2(nil); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if _, err := NewProxy(3, ap("1.1.1.1:1"), ap("1.1.1.1:1")); err == nil {
		t.Error("version 3 accepted")
	}
}

func TestString(t *testing.T) {
	b := readVector(t, "v2-tcp4-crc32c")
	h, _, _ := Decode(b)
	if got, want := h.String(), "PROXY v2 TCP4 127.0.0.2:40012 -> 127.0.0.1:8012 TLVs[0x03:4]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
