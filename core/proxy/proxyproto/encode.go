package proxyproto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Encoding follows what HAProxy 2.6 sends (shared/vectors/proxy/README.md
// §2): v1 IPv6 in the shortest lowercase form, IPv4-mapped addresses kept
// as TCP6, LOCAL as v2 family UNSPEC with no address block and as v1
// "PROXY UNKNOWN\r\n".

// LenV1 is the number of bytes AppendV1 writes, or 0 if it would fail.
func (h Header) LenV1() int {
	var buf [MaxV1Len]byte
	out, err := h.AppendV1(buf[:0])
	if err != nil {
		return 0
	}
	return len(out)
}

// AppendV1 appends the v1 line for h to dst. A CmdProxy header over TCP4
// or TCP6 becomes "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n"; everything
// else v1 cannot express (LOCAL, UNSPEC, UDP, UNIX) becomes
// "PROXY UNKNOWN\r\n", as the spec asks of a sender. TLVs have no v1 form
// and are left out.
func (h Header) AppendV1(dst []byte) ([]byte, error) {
	if h.Command != CmdProxy && h.Command != CmdLocal {
		return dst, fmt.Errorf("proxyproto: encode v1: command %s", h.Command)
	}
	if h.Command == CmdLocal || (h.Transport != TCP4 && h.Transport != TCP6) {
		return append(dst, "PROXY UNKNOWN\r\n"...), nil
	}
	if err := h.checkInet(); err != nil {
		return dst, fmt.Errorf("proxyproto: encode v1: %w", err)
	}
	dst = append(dst, v1Prefix...)
	dst = append(dst, h.Transport.String()...)
	dst = append(dst, ' ')
	dst = h.Source.Addr().AppendTo(dst)
	dst = append(dst, ' ')
	dst = h.Destination.Addr().AppendTo(dst)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Source.Port()), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Destination.Port()), 10)
	return append(dst, '\r', '\n'), nil
}

// checkInet checks that the addresses fit h.Transport (TCP4/UDP4: IPv4;
// TCP6/UDP6: IPv6, IPv4-mapped included) and carry no zone.
func (h Header) checkInet() error {
	want4 := h.Transport == TCP4 || h.Transport == UDP4
	for _, e := range [2]struct {
		name string
		ap   netip.AddrPort
	}{{"source", h.Source}, {"destination", h.Destination}} {
		a := e.ap.Addr()
		switch {
		case !a.IsValid():
			return fmt.Errorf("%s %s address is not set", h.Transport, e.name)
		case a.Is4() != want4:
			return fmt.Errorf("%s address %s does not match %s", e.name, a, h.Transport)
		case a.Zone() != "":
			return fmt.Errorf("%s address %s has a zone, which the protocol cannot carry", e.name, a)
		}
	}
	return nil
}

// LenV2 is the number of bytes AppendV2 writes, or 0 if it would fail.
func (h Header) LenV2() int {
	n, err := h.v2Length()
	if err != nil {
		return 0
	}
	return v2FixedLen + n
}

// v2Length is the value of the v2 length field for h.
func (h Header) v2Length() (int, error) {
	tr := h.Transport
	if h.Command == CmdLocal {
		tr = TransportUnspec
	} else if h.Command != CmdProxy {
		return 0, fmt.Errorf("command %s", h.Command)
	}
	n, ok := tr.addrLen()
	if !ok {
		return 0, fmt.Errorf("transport %s", tr)
	}
	crcs := 0
	for _, t := range h.TLVs {
		if t.Type == TypeCRC32C {
			if crcs++; crcs > 1 {
				return 0, fmt.Errorf("more than one CRC32C TLV")
			}
		}
		if len(t.Value) > MaxV2Length {
			return 0, fmt.Errorf("TLV 0x%02x value of %d bytes", t.Type, len(t.Value))
		}
		if t.Type == TypeCRC32C && len(t.Value) != 4 {
			return 0, fmt.Errorf("CRC32C TLV value of %d bytes, want 4", len(t.Value))
		}
		n += 3 + len(t.Value)
	}
	if n > MaxV2Length {
		return 0, fmt.Errorf("header length %d exceeds %d", n, MaxV2Length)
	}
	return n, nil
}

// AppendV2 appends the v2 header for h to dst. CmdLocal is written as
// family UNSPEC with no address block. If h has a CRC32C TLV, its value is
// computed here (whatever it held) over the whole header, as the spec
// prescribes, so a caller adds TLV{Type: TypeCRC32C, Value: make([]byte, 4)}
// to ask for a checksum.
func (h Header) AppendV2(dst []byte) ([]byte, error) {
	length, err := h.v2Length()
	if err != nil {
		return dst, fmt.Errorf("proxyproto: encode v2: %w", err)
	}
	tr := h.Transport
	if h.Command == CmdLocal {
		tr = TransportUnspec
	}
	if tr.isInet() {
		if err := h.checkInet(); err != nil {
			return dst, fmt.Errorf("proxyproto: encode v2: %w", err)
		}
	}
	if tr.isUnix() && (len(h.SourcePath) > unixPathLen || len(h.DestinationPath) > unixPathLen) {
		return dst, fmt.Errorf("proxyproto: encode v2: UNIX path longer than %d bytes", unixPathLen)
	}
	start := len(dst)
	dst = append(dst, v2Signature[:]...)
	dst = append(dst, 0x20|byte(h.Command), byte(tr))
	dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	switch tr {
	case TCP4, UDP4:
		s, d := h.Source.Addr().As4(), h.Destination.Addr().As4()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
		dst = binary.BigEndian.AppendUint16(dst, h.Source.Port())
		dst = binary.BigEndian.AppendUint16(dst, h.Destination.Port())
	case TCP6, UDP6:
		s, d := h.Source.Addr().As16(), h.Destination.Addr().As16()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
		dst = binary.BigEndian.AppendUint16(dst, h.Source.Port())
		dst = binary.BigEndian.AppendUint16(dst, h.Destination.Port())
	case UnixStream, UnixDgram:
		dst = appendPadded(dst, h.SourcePath, unixPathLen)
		dst = appendPadded(dst, h.DestinationPath, unixPathLen)
	}
	crcOff := -1
	for _, t := range h.TLVs {
		dst = append(dst, t.Type)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Value)))
		if t.Type == TypeCRC32C && crcOff < 0 {
			crcOff = len(dst) - start
			dst = append(dst, 0, 0, 0, 0)
			continue
		}
		dst = append(dst, t.Value...)
	}
	if crcOff >= 0 {
		hdr := dst[start:]
		binary.BigEndian.PutUint32(hdr[crcOff:], headerCRC(hdr, crcOff))
	}
	return dst, nil
}

func appendPadded(dst []byte, s string, n int) []byte {
	dst = append(dst, s...)
	for i := len(s); i < n; i++ {
		dst = append(dst, 0)
	}
	return dst
}
