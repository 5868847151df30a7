package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func FuzzDecodeAddr(f *testing.F) {
	f.Add(AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:47411"), 0)))
	f.Add(AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("[2001:db8::1]:1"), 9)))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, err := DecodeAddr(b)
		if err != nil {
			return
		}
		// Re-encoding a decoded IP address reproduces it (non-IP families lose their bytes, as in Ceph).
		if a.Family == FamilyInet || a.Family == FamilyInet6 {
			c, _, err := DecodeAddr(AppendAddr(nil, a))
			if err != nil || !c.Equal(a) {
				t.Fatalf("round trip %v -> %v (%v)", a, c, err)
			}
		}
		if n != AddrLen {
			t.Fatal(n)
		}
	})
}

func FuzzDecodeBanner(f *testing.F) {
	f.Add([]byte(Banner))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeBanner(b)
		if err == nil && (n != BannerLen || string(b[:n]) != Banner) {
			t.Fatal("accepted a bad banner")
		}
	})
}

func FuzzDecodeConnect(f *testing.F) {
	f.Add(unhex(f, `fffffdffbdcf013f 01000000 01000000 00000000 0d000000 01000000 12000000 00`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, n, err := DecodeConnect(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendConnect(nil, c), b[:n]) {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeConnectReply(f *testing.F) {
	f.Add(unhex(f, `0d fffffdffbdcf013f 15000000 01000000 0f000000 00000000 01`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := DecodeConnectReply(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendConnectReply(nil, r), b[:n]) {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeAuthNone(f *testing.F) {
	f.Add(unhex(f, `01 01000000 01000000 61 0000000000000000`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, err := DecodeAuthNone(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendAuthNone(nil, a), b[:n]) && b[0] == 1 {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeFrames(f *testing.F) {
	f.Add(unhex(f, `865d026b 759a3614`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ts, n, err := DecodeTimespec(b); err == nil && !bytes.Equal(AppendTimespec(nil, ts), b[:n]) {
			t.Fatal("timespec round trip")
		}
		if s, n, err := DecodeSeq(b); err == nil && !bytes.Equal(AppendSeq(nil, s), b[:n]) {
			t.Fatal("seq round trip")
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(unhex(f, mauthFrameHex)[1 : 1+HeaderLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendHeader(nil, h, false)[:49], b[:49]) || n != HeaderLen {
			t.Fatal("round trip")
		}
		_ = CheckHeaderCRC(b)
	})
}

func FuzzDecodeFooter(f *testing.F) {
	f.Add(unhex(f, `9321db5c 00000000 00000000 0000000000000000 01`), true)
	f.Fuzz(func(t *testing.T, b []byte, auth bool) {
		ft, n, err := DecodeFooter(b, auth)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendFooter(nil, ft, auth), b[:n]) {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(unhex(f, mauthFrameHex)[1:], true)
	f.Fuzz(func(t *testing.T, b []byte, auth bool) {
		fr, n, err := DecodeMessage(b, auth, CRCAll, 1<<16)
		var le *LengthError
		if errors.As(err, &le) && le.Len <= 1<<16 {
			t.Fatal("length error under the limit")
		}
		if err != nil {
			return
		}
		re := AppendMessage(nil, fr.Header, fr.Front, fr.Middle, fr.Data, auth, CRCAll)
		re = AppendFooter(re[:len(re)-FooterSize(auth)], fr.Footer, auth)
		if !bytes.Equal(re[1:], b[:n]) {
			t.Fatalf("round trip\n%x\n%x", re[1:], b[:n])
		}
	})
}
