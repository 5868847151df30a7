// Package pp is the conformance suite's own PROXY protocol v1/v2 decoder,
// written from ../shared/spec/proxy-protocol-notes.md and checked against
// the HAProxy captures in ../shared/vectors/proxy/. It is independent of
// core/proxy/proxyproto so that a backend in the suite judges what an
// engine's send-proxy(-v2) wrote by the spec, not by core's reading of it.
package pp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"strconv"
	"strings"
)

// ErrShort means the input is a valid prefix of a header: read more.
var ErrShort = errors.New("pp: need more bytes")

// Sig is the v2 signature (§3).
var Sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// TLV is one v2 type-length-value.
type TLV struct {
	Type  byte
	Value []byte
}

// Header is a decoded PROXY header.
type Header struct {
	Version int    // 1 or 2
	Local   bool   // v2 LOCAL, or v1 UNKNOWN: use the real socket addresses
	Proto   string // "TCP4", "TCP6", "UNKNOWN", or v2 family/transport byte in hex
	Src     *net.TCPAddr
	Dst     *net.TCPAddr
	TLVs    []TLV
	Len     int // bytes the header used
}

// Decode decodes one header at the start of b.
func Decode(b []byte) (Header, error) {
	if len(b) == 0 {
		return Header{}, ErrShort
	}
	if b[0] == Sig[0] {
		n := min(len(b), len(Sig))
		if !bytes.Equal(b[:n], Sig[:n]) {
			return Header{}, errors.New("pp: not a PROXY header")
		}
		return decodeV2(b)
	}
	n := min(len(b), 6)
	if !bytes.Equal(b[:n], []byte("PROXY ")[:n]) {
		return Header{}, errors.New("pp: not a PROXY header")
	}
	return decodeV1(b)
}

func decodeV1(b []byte) (Header, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		if len(b) >= 107 {
			return Header{}, errors.New("pp: v1 line without CRLF within 107 bytes")
		}
		if bytes.IndexByte(b, '\n') >= 0 {
			return Header{}, errors.New("pp: v1 line ends in LF without CR")
		}
		return Header{}, ErrShort
	}
	if end+2 > 107 {
		return Header{}, errors.New("pp: v1 line longer than 107 bytes")
	}
	line := string(b[:end])
	h := Header{Version: 1, Len: end + 2}
	if line == "PROXY UNKNOWN" || strings.HasPrefix(line, "PROXY UNKNOWN ") {
		h.Local, h.Proto = true, "UNKNOWN"
		return h, nil
	}
	f := strings.Split(line, " ")
	if len(f) != 6 {
		return h, fmt.Errorf("pp: v1 %q: want 6 fields", line)
	}
	h.Proto = f[1]
	var v4 bool
	switch f[1] {
	case "TCP4":
		v4 = true
	case "TCP6":
	default:
		return h, fmt.Errorf("pp: v1 protocol %q", f[1])
	}
	src, err1 := v1IP(f[2], v4)
	dst, err2 := v1IP(f[3], v4)
	sp, err3 := v1Port(f[4])
	dp, err4 := v1Port(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return h, fmt.Errorf("pp: v1 %q: %w", line, err)
	}
	h.Src = &net.TCPAddr{IP: src, Port: sp}
	h.Dst = &net.TCPAddr{IP: dst, Port: dp}
	return h, nil
}

func v1IP(s string, v4 bool) (net.IP, error) {
	if v4 {
		parts := strings.Split(s, ".")
		if len(parts) != 4 {
			return nil, fmt.Errorf("bad IPv4 %q", s)
		}
		for _, p := range parts {
			if len(p) == 0 || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
				return nil, fmt.Errorf("bad IPv4 %q", s)
			}
			if v, err := strconv.Atoi(p); err != nil || v > 255 {
				return nil, fmt.Errorf("bad IPv4 %q", s)
			}
		}
		return net.ParseIP(s).To4(), nil
	}
	if !strings.Contains(s, ":") {
		return nil, fmt.Errorf("bad IPv6 %q", s)
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("bad IPv6 %q", s)
	}
	return ip, nil
}

func v1Port(s string) (int, error) {
	if len(s) == 0 || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad port %q", s)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return v, nil
}

func decodeV2(b []byte) (Header, error) {
	if len(b) < 16 {
		return Header{}, ErrShort
	}
	ver, cmd := b[12]>>4, b[12]&0xF
	if ver != 2 {
		return Header{}, fmt.Errorf("pp: v2 version nibble %d", ver)
	}
	if cmd > 1 {
		return Header{}, fmt.Errorf("pp: v2 command %d", cmd)
	}
	fam, tr := b[13]>>4, b[13]&0xF
	if fam > 3 || tr > 2 {
		return Header{}, fmt.Errorf("pp: v2 family/transport %#02x", b[13])
	}
	n := int(binary.BigEndian.Uint16(b[14:]))
	if len(b) < 16+n {
		return Header{}, ErrShort
	}
	h := Header{Version: 2, Local: cmd == 0, Proto: fmt.Sprintf("%#02x", b[13]), Len: 16 + n}
	body := b[16 : 16+n]
	var alen int
	switch fam {
	case 1:
		alen = 12
	case 2:
		alen = 36
	case 3:
		alen = 216
	}
	if len(body) < alen {
		return h, fmt.Errorf("pp: v2 length %d shorter than the %d-byte address block", n, alen)
	}
	if !h.Local {
		switch fam {
		case 0:
			// The spec lets a receiver accept this with the real addresses.
			h.Local = true
		case 1:
			h.Src = &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:4]...)), Port: int(binary.BigEndian.Uint16(body[8:]))}
			h.Dst = &net.TCPAddr{IP: net.IP(append([]byte(nil), body[4:8]...)), Port: int(binary.BigEndian.Uint16(body[10:]))}
		case 2:
			h.Src = &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:16]...)), Port: int(binary.BigEndian.Uint16(body[32:]))}
			h.Dst = &net.TCPAddr{IP: net.IP(append([]byte(nil), body[16:32]...)), Port: int(binary.BigEndian.Uint16(body[34:]))}
		}
	}
	rest := body[alen:]
	for len(rest) > 0 {
		if len(rest) < 3 {
			return h, errors.New("pp: v2 TLV shorter than 3 bytes")
		}
		l := int(binary.BigEndian.Uint16(rest[1:]))
		if 3+l > len(rest) {
			return h, errors.New("pp: v2 TLV runs past the header end")
		}
		h.TLVs = append(h.TLVs, TLV{Type: rest[0], Value: rest[3 : 3+l]})
		if rest[0] == 0x03 {
			if l != 4 {
				return h, errors.New("pp: v2 CRC32C TLV length != 4")
			}
			off := 16 + alen + (len(body) - alen - len(rest)) + 3
			c := append([]byte(nil), b[:16+n]...)
			want := binary.BigEndian.Uint32(c[off:])
			clear(c[off : off+4])
			if got := crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli)); got != want {
				return h, fmt.Errorf("pp: v2 CRC32C %#x, computed %#x", want, got)
			}
		}
		rest = rest[3+l:]
	}
	return h, nil
}
