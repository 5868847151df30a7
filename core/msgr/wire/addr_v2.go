package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Address types of the msgr2-era entity_addr_t (Ceph's entity_addr_t::TYPE_*).
// The legacy 136-byte form has no type slot (it decodes as AddrTypeLegacy);
// the versioned form below carries the type on the wire.
const (
	AddrTypeMsgr2 uint32 = 2 // "v2:": speaks msgr2 only
	AddrTypeAny   uint32 = 3 // either protocol; printed without a prefix
	AddrTypeCIDR  uint32 = 4 // a blocklist range, never a peer
)

// Markers that open an encoded address or address vector (Ceph's
// entity_addr_t::decode and entity_addrvec_t::decode): 0 is the legacy
// block, 1 one versioned address, 2 a vector of versioned addresses.
const (
	addrMarkerLegacy    = 0
	addrMarkerVersioned = 1
	addrMarkerVec       = 2
)

// sockaddr lengths Ceph's versioned form carries (Linux sizeof).
const (
	sockaddrInLen  = 16
	sockaddrIn6Len = 28
)

// MaxAddrVec bounds the addresses one entity_addrvec_t may claim. Ceph
// daemons bind at most one v2 and one v1 address per network (public and
// cluster); the bound is far above that and keeps a claimed count from
// sizing an allocation.
const MaxAddrVec = 16

// addrV2HeadLen is marker, struct_v, compat, struct_len: what must be read
// before the body length is known.
const addrV2HeadLen = 1 + 1 + 1 + 4

// AddrV2Len is the versioned encoding's size for a.
func AddrV2Len(a EntityAddr) int {
	return addrV2HeadLen + 4 + 4 + 4 + sockaddrLen(a.Family)
}

func sockaddrLen(family uint16) int {
	switch family {
	case FamilyInet:
		return sockaddrInLen
	case FamilyInet6:
		return sockaddrIn6Len
	}
	return 0
}

// AppendAddrV2 appends the versioned (msgr2-era, MSG_ADDR2 feature)
// encoding of one entity_addr_t: marker 1, ENCODE_START(1, 1) header, type,
// nonce, sockaddr length and the Linux sockaddr as it sits in memory
// (family little-endian, port and address big-endian). Only IPv4 and IPv6
// carry a sockaddr; other families encode a zero length, as Ceph does.
func AppendAddrV2(b []byte, a EntityAddr) []byte {
	sl := sockaddrLen(a.Family)
	b = append(b, addrMarkerVersioned, 1, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(4+4+4+sl))
	b = binary.LittleEndian.AppendUint32(b, a.Type)
	b = binary.LittleEndian.AppendUint32(b, a.Nonce)
	b = binary.LittleEndian.AppendUint32(b, uint32(sl))
	switch a.Family {
	case FamilyInet:
		b = binary.LittleEndian.AppendUint16(b, FamilyInet)
		b = binary.BigEndian.AppendUint16(b, a.Port)
		var ip [4]byte
		if u := a.IP.Unmap(); u.Is4() {
			ip = u.As4()
		}
		b = append(b, ip[:]...)
		b = append(b, make([]byte, 8)...) // sin_zero
	case FamilyInet6:
		b = binary.LittleEndian.AppendUint16(b, FamilyInet6)
		b = binary.BigEndian.AppendUint16(b, a.Port)
		b = binary.BigEndian.AppendUint32(b, a.Flowinfo)
		ip := a.IP.As16()
		b = append(b, ip[:]...)
		b = binary.LittleEndian.AppendUint32(b, a.ScopeID)
	}
	return b
}

// DecodeAddrAny decodes one entity_addr_t in whichever form its marker
// announces: 0 the 136-byte legacy block (DecodeAddr), 1 the versioned form.
// Ceph decodes a HELLO's or CLIENT_IDENT's address this way.
func DecodeAddrAny(b []byte) (EntityAddr, int, error) {
	if len(b) < 1 {
		return EntityAddr{}, 0, ErrShort
	}
	switch b[0] {
	case addrMarkerLegacy:
		// The legacy block's first u32 is the marker; Ceph reads one byte
		// and skips three, so only byte 0 decides.
		if len(b) < AddrLen {
			return EntityAddr{}, 0, ErrShort
		}
		raw := make([]byte, 4, AddrLen)
		raw = append(raw, b[4:AddrLen]...)
		a, _, err := DecodeAddr(raw)
		return a, AddrLen, err
	case addrMarkerVersioned:
		return decodeAddrVersioned(b)
	}
	return EntityAddr{}, 0, &AddrError{Marker: uint32(b[0])}
}

// decodeAddrVersioned decodes marker 1 and the ENCODE_START block. The
// struct_len bounds the body: bytes beyond what version 1 defines are
// skipped (a newer encoder may append fields), a body shorter than version
// 1 needs is malformed. struct_len itself needs no cap: it only ever
// delimits bytes already in b.
func decodeAddrVersioned(b []byte) (EntityAddr, int, error) {
	if len(b) < addrV2HeadLen {
		return EntityAddr{}, 0, ErrShort
	}
	if v, compat := b[1], b[2]; compat > 1 {
		return EntityAddr{}, 0, fmt.Errorf("msgr wire: entity_addr_t version %d needs compat %d, we decode 1", v, compat)
	}
	body := binary.LittleEndian.Uint32(b[3:])
	if body < 12 {
		return EntityAddr{}, 0, fmt.Errorf("msgr wire: entity_addr_t body of %d bytes, want at least 12", body)
	}
	if uint64(len(b)-addrV2HeadLen) < uint64(body) {
		return EntityAddr{}, 0, ErrShort
	}
	p := b[addrV2HeadLen : addrV2HeadLen+int(body)]
	a := EntityAddr{
		Type:  binary.LittleEndian.Uint32(p),
		Nonce: binary.LittleEndian.Uint32(p[4:]),
	}
	sl := binary.LittleEndian.Uint32(p[8:])
	if sl > sockaddrIn6Len {
		// Ceph's entity_addr_t holds at most a sockaddr_in6 and throws
		// on a longer one.
		return EntityAddr{}, 0, fmt.Errorf("msgr wire: entity_addr_t sockaddr of %d bytes, at most %d", sl, sockaddrIn6Len)
	}
	if uint64(sl) > uint64(len(p)-12) {
		return EntityAddr{}, 0, fmt.Errorf("msgr wire: entity_addr_t sockaddr of %d bytes in a body of %d", sl, body)
	}
	sa := p[12 : 12+int(sl)]
	if len(sa) >= 2 {
		a.Family = binary.LittleEndian.Uint16(sa)
	}
	switch {
	case a.Family == FamilyInet && len(sa) >= 8:
		a.Port = binary.BigEndian.Uint16(sa[2:])
		a.IP = netip.AddrFrom4([4]byte(sa[4:8]))
	case a.Family == FamilyInet6 && len(sa) >= sockaddrIn6Len:
		a.Port = binary.BigEndian.Uint16(sa[2:])
		a.Flowinfo = binary.BigEndian.Uint32(sa[4:])
		a.IP = netip.AddrFrom16([16]byte(sa[8:24]))
		a.ScopeID = binary.LittleEndian.Uint32(sa[24:])
	case a.Family == FamilyInet || a.Family == FamilyInet6:
		return EntityAddr{}, 0, fmt.Errorf("msgr wire: entity_addr_t family %d with a %d-byte sockaddr", a.Family, sl)
	}
	return a, addrV2HeadLen + int(body), nil
}

// AppendAddrVec appends an entity_addrvec_t as msgr2 frames carry it:
// marker 2, a u32 count, then each address in the versioned form.
func AppendAddrVec(b []byte, v []EntityAddr) []byte {
	b = append(b, addrMarkerVec)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	for _, a := range v {
		b = AppendAddrV2(b, a)
	}
	return b
}

// DecodeAddrVec decodes an entity_addrvec_t. Markers 0 and 1 are a single
// address (legacy or versioned), as Ceph accepts; marker 2 a counted vector
// of at most MaxAddrVec. The count is checked before anything is allocated.
func DecodeAddrVec(b []byte) ([]EntityAddr, int, error) {
	if len(b) < 1 {
		return nil, 0, ErrShort
	}
	if b[0] != addrMarkerVec {
		a, n, err := DecodeAddrAny(b)
		if err != nil {
			return nil, 0, err
		}
		return []EntityAddr{a}, n, nil
	}
	if len(b) < 5 {
		return nil, 0, ErrShort
	}
	count := binary.LittleEndian.Uint32(b[1:])
	if count > MaxAddrVec {
		return nil, 0, fmt.Errorf("msgr wire: entity_addrvec_t of %d addresses, limit %d", count, MaxAddrVec)
	}
	n := 5
	v := make([]EntityAddr, 0, count)
	for range count {
		a, used, err := DecodeAddrAny(b[n:])
		if err != nil {
			return nil, 0, err
		}
		v = append(v, a)
		n += used
	}
	return v, n, nil
}

// addrTypeNames are Ceph's entity_addr_t::get_type_name prefixes.
var addrTypeNames = map[uint32]string{
	AddrTypeNone: "none", AddrTypeLegacy: "v1", AddrTypeMsgr2: "v2",
	AddrTypeAny: "any", AddrTypeCIDR: "cidr",
}

// TypedString prints the address as Ceph's operator<< does for the
// msgr2-era type: "v2:127.0.0.1:3300/0", "v1:127.0.0.1:6789/0",
// no prefix for ANY and "-" for NONE. String (msgr1's form) is unchanged.
func (a EntityAddr) TypedString() string {
	if a.Type == AddrTypeNone {
		return "-"
	}
	s := a.String()
	if a.Type == AddrTypeAny {
		return s
	}
	if name, ok := addrTypeNames[a.Type]; ok {
		return name + ":" + s
	}
	return "type" + strconv.FormatUint(uint64(a.Type), 10) + ":" + s
}

// ParseTypedAddr parses Ceph's text form of an address: an optional
// "v1:", "v2:" or "any:" prefix (none means ANY, as in Ceph), an IP
// endpoint ("127.0.0.1:3300", "[::1]:3300") and an optional "/nonce".
func ParseTypedAddr(s string) (EntityAddr, error) {
	typ := AddrTypeAny
	rest := s
	for t, name := range map[uint32]string{AddrTypeLegacy: "v1:", AddrTypeMsgr2: "v2:", AddrTypeAny: "any:"} {
		if r, ok := strings.CutPrefix(s, name); ok {
			typ, rest = t, r
			break
		}
	}
	hostport, nonceText, hasNonce := strings.Cut(rest, "/")
	var nonce uint64
	if hasNonce {
		var err error
		if nonce, err = strconv.ParseUint(nonceText, 10, 32); err != nil {
			return EntityAddr{}, fmt.Errorf("msgr wire: address %q: nonce: %w", s, err)
		}
	}
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return EntityAddr{}, fmt.Errorf("msgr wire: address %q: %w", s, err)
	}
	a := NewEntityAddr(ap, uint32(nonce))
	a.Type = typ
	return a, nil
}
