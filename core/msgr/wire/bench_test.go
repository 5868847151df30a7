package wire

import (
	"net/netip"
	"testing"
)

func BenchmarkCRC32C(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 64 << 10, 1 << 20} {
		buf := make([]byte, size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = CRC32C(0, buf)
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func BenchmarkEncodeHeaderFooter(b *testing.B) {
	h := Header{Seq: 1, Tid: 2, Type: 0x7E01, Priority: PrioDefault, Version: 1, DataLen: 4096}
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf = AppendHeader(buf[:0], h, true)
		buf = AppendFooter(buf, Footer{Flags: FooterComplete}, true)
	}
}

func BenchmarkDecodeHeader(b *testing.B) {
	raw := AppendHeader(nil, Header{Seq: 1, Type: 0x7E01, DataLen: 4096}, true)
	for b.Loop() {
		if _, _, err := DecodeHeader(raw); err != nil {
			b.Fatal(err)
		}
		if err := CheckHeaderCRC(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMessage4K(b *testing.B) {
	data := make([]byte, 4096)
	h := Header{Seq: 1, Type: 0x7E01, Priority: PrioDefault}
	buf := make([]byte, 0, 8192)
	b.SetBytes(4096)
	for b.Loop() {
		buf = AppendMessage(buf[:0], h, nil, nil, data, true, CRCAll)
	}
}

func BenchmarkDecodeMessage4K(b *testing.B) {
	raw := AppendMessage(nil, Header{Seq: 1, Type: 0x7E01}, nil, nil, make([]byte, 4096), true, CRCAll)[1:]
	b.SetBytes(4096)
	for b.Loop() {
		if _, _, err := DecodeMessage(raw, true, CRCAll, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddr(b *testing.B) {
	a := NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:6789"), 7)
	buf := make([]byte, 0, AddrLen)
	for b.Loop() {
		buf = AppendAddr(buf[:0], a)
		if _, _, err := DecodeAddr(buf); err != nil {
			b.Fatal(err)
		}
	}
}
