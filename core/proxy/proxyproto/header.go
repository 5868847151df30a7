package proxyproto

import (
	"fmt"
	"net/netip"
	"strings"
)

// Command is the v2 command (low nibble of byte 13). v1 TCP4/TCP6 lines
// decode as CmdProxy; a v1 "UNKNOWN" line decodes as CmdLocal, because both
// tell the receiver to use the connection's real endpoints.
type Command uint8

const (
	// CmdLocal: the proxy opened the connection itself (a health check) or
	// cannot express the client's addresses; use the real endpoints.
	CmdLocal Command = 0x0
	// CmdProxy: the connection is relayed for the client in the header.
	CmdProxy Command = 0x1
)

func (c Command) String() string {
	switch c {
	case CmdLocal:
		return "LOCAL"
	case CmdProxy:
		return "PROXY"
	}
	return fmt.Sprintf("Command(0x%x)", uint8(c))
}

// Transport is the v2 family/transport byte (byte 14). The constants are
// the wire values, so a Transport is written to the wire unchanged.
type Transport uint8

const (
	TransportUnspec Transport = 0x00
	TCP4            Transport = 0x11
	UDP4            Transport = 0x12
	TCP6            Transport = 0x21
	UDP6            Transport = 0x22
	UnixStream      Transport = 0x31
	UnixDgram       Transport = 0x32
)

// addrLen is the size of the v2 address block for t, and ok=false for a
// byte outside the spec's table (such a header is invalid).
func (t Transport) addrLen() (n int, ok bool) {
	switch t {
	case TransportUnspec:
		return 0, true
	case TCP4, UDP4:
		return 12, true
	case TCP6, UDP6:
		return 36, true
	case UnixStream, UnixDgram:
		return 2 * unixPathLen, true
	}
	return 0, false
}

func (t Transport) isInet() bool {
	return t == TCP4 || t == UDP4 || t == TCP6 || t == UDP6
}

func (t Transport) isUnix() bool { return t == UnixStream || t == UnixDgram }

func (t Transport) String() string {
	switch t {
	case TransportUnspec:
		return "UNSPEC"
	case TCP4:
		return "TCP4"
	case UDP4:
		return "UDP4"
	case TCP6:
		return "TCP6"
	case UDP6:
		return "UDP6"
	case UnixStream:
		return "UNIX-STREAM"
	case UnixDgram:
		return "UNIX-DGRAM"
	}
	return fmt.Sprintf("Transport(0x%02x)", uint8(t))
}

// Registered v2 TLV types (spec §2.2.x). 0xE0-0xEF are for applications,
// 0xF0-0xF7 experimental; a receiver skips what it does not know.
const (
	TypeALPN          uint8 = 0x01
	TypeAuthority     uint8 = 0x02
	TypeCRC32C        uint8 = 0x03
	TypeNoop          uint8 = 0x04
	TypeUniqueID      uint8 = 0x05
	TypeSSL           uint8 = 0x20
	SubtypeSSLVersion uint8 = 0x21
	SubtypeSSLCN      uint8 = 0x22
	SubtypeSSLCipher  uint8 = 0x23
	SubtypeSSLSigAlg  uint8 = 0x24
	SubtypeSSLKeyAlg  uint8 = 0x25
	TypeNetNS         uint8 = 0x30
)

// MaxUniqueIDLen is the spec's limit on a UNIQUE_ID value.
const MaxUniqueIDLen = 128

// TLV is one v2 type-length-value extension, in wire order.
type TLV struct {
	Type  uint8
	Value []byte
}

// Header is one decoded PROXY header, or one to encode.
//
// For CmdLocal the addresses are left zero: the spec tells the receiver to
// ignore them and use the connection's real endpoints, and the encoder
// writes LOCAL as family UNSPEC with no address block, as HAProxy does.
type Header struct {
	Version   int // 1 or 2
	Command   Command
	Transport Transport
	// Source and Destination are set for TCP4/TCP6/UDP4/UDP6 with CmdProxy.
	// HAProxy sends IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as TCP6 and
	// they are kept as such.
	Source, Destination netip.AddrPort
	// SourcePath and DestinationPath are set for the UNIX transports.
	SourcePath, DestinationPath string
	// TLVs are the v2 extensions in wire order, CRC32C included. They
	// never alias the decoder's input.
	TLVs []TLV
}

// Addresses returns the client's addresses when the header carries usable
// ones (CmdProxy over TCP or UDP). ok=false means: use the connection's
// real endpoints (LOCAL, v1 UNKNOWN, UNSPEC or UNIX).
func (h Header) Addresses() (src, dst netip.AddrPort, ok bool) {
	if h.Command != CmdProxy || !h.Transport.isInet() {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	return h.Source, h.Destination, true
}

// TLV returns the value of the first TLV of type typ.
func (h Header) TLV(typ uint8) ([]byte, bool) {
	for _, t := range h.TLVs {
		if t.Type == typ {
			return t.Value, true
		}
	}
	return nil, false
}

// Authority is the AUTHORITY TLV (the client's SNI), if present.
func (h Header) Authority() (string, bool) {
	v, ok := h.TLV(TypeAuthority)
	return string(v), ok
}

// UniqueID is the UNIQUE_ID TLV, if present (it may be present and empty).
func (h Header) UniqueID() ([]byte, bool) { return h.TLV(TypeUniqueID) }

// NewProxy builds a CmdProxy header for a TCP connection from src to dst,
// choosing the family as HAProxy does: TCP4 when both are IPv4, otherwise
// TCP6 with any IPv4 address written as IPv4-mapped IPv6.
func NewProxy(version int, src, dst netip.AddrPort) (Header, error) {
	if !src.IsValid() || !dst.IsValid() {
		return Header{}, fmt.Errorf("proxyproto: new header: invalid address %v -> %v", src, dst)
	}
	if version != 1 && version != 2 {
		return Header{}, fmt.Errorf("proxyproto: new header: version %d, want 1 or 2", version)
	}
	h := Header{Version: version, Command: CmdProxy}
	sa, da := src.Addr().WithZone(""), dst.Addr().WithZone("")
	if sa.Is4() && da.Is4() {
		h.Transport = TCP4
	} else {
		h.Transport = TCP6
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	h.Source = netip.AddrPortFrom(sa, src.Port())
	h.Destination = netip.AddrPortFrom(da, dst.Port())
	return h, nil
}

// String is a one-line summary for logs and test failures, e.g.
// "PROXY v2 TCP4 192.0.2.10:40000 -> 198.51.100.20:443 TLVs[0x03:4 0x05:8]".
func (h Header) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%d %s", h.Command, h.Version, h.Transport)
	switch {
	case h.Transport.isInet() && h.Command == CmdProxy:
		fmt.Fprintf(&b, " %s -> %s", h.Source, h.Destination)
	case h.Transport.isUnix() && h.Command == CmdProxy:
		fmt.Fprintf(&b, " %q -> %q", h.SourcePath, h.DestinationPath)
	}
	if len(h.TLVs) > 0 {
		b.WriteString(" TLVs[")
		for i, t := range h.TLVs {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "0x%02x:%d", t.Type, len(t.Value))
		}
		b.WriteByte(']')
	}
	return b.String()
}
