package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// AddrLen is the size of a legacy ceph_entity_addr on the wire (§4).
const AddrLen = 136

// Address families as Linux numbers them; Ceph puts the Linux values on the
// wire whatever the host (§4).
const (
	FamilyUnspec uint16 = 0
	FamilyInet   uint16 = 2
	FamilyInet6  uint16 = 10
)

// Decoded address types (entity_addr_t::type). The wire always carries 0 in
// the type slot; decode yields Legacy (or None for AF_UNSPEC).
const (
	AddrTypeNone   uint32 = 0
	AddrTypeLegacy uint32 = 1
)

// EntityAddr is a decoded legacy entity address.
type EntityAddr struct {
	Type   uint32 // AddrTypeLegacy after decode, AddrTypeNone for AF_UNSPEC
	Nonce  uint32
	Family uint16
	// IP and Port are meaningful for FamilyInet and FamilyInet6.
	IP   netip.Addr
	Port uint16
	// Flowinfo (network order) and ScopeID (host LE) are IPv6 only.
	Flowinfo uint32
	ScopeID  uint32
}

// NewEntityAddr builds a legacy address from an IP endpoint and a nonce.
// IPv4-mapped IPv6 addresses become IPv4.
func NewEntityAddr(ap netip.AddrPort, nonce uint32) EntityAddr {
	ip := ap.Addr().Unmap()
	fam := FamilyInet
	if ip.Is6() {
		fam = FamilyInet6
	}
	if !ip.IsValid() {
		fam = FamilyInet
		ip = netip.IPv4Unspecified()
	}
	return EntityAddr{Type: AddrTypeLegacy, Nonce: nonce, Family: fam, IP: ip, Port: ap.Port()}
}

// AddrFromNet converts a *net.TCPAddr (as engines report) to a legacy
// address with the given nonce.
func AddrFromNet(a net.Addr, nonce uint32) EntityAddr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return NewEntityAddr(ta.AddrPort(), nonce)
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return NewEntityAddr(ap, nonce)
	}
	return EntityAddr{Type: AddrTypeNone}
}

// AddrPort is the IP endpoint.
func (a EntityAddr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.IP, a.Port) }

// IsBlankIP reports whether the IP is 0.0.0.0, :: or the family is not an
// IP family (§4) — such a peer address is completed from the socket.
func (a EntityAddr) IsBlankIP() bool {
	switch a.Family {
	case FamilyInet, FamilyInet6:
		return !a.IP.IsValid() || a.IP.IsUnspecified()
	}
	return true
}

// String prints the address as Ceph does: ip:port/nonce.
func (a EntityAddr) String() string {
	switch a.Family {
	case FamilyInet, FamilyInet6:
		return fmt.Sprintf("%s/%d", a.AddrPort(), a.Nonce)
	}
	return fmt.Sprintf("-/%d", a.Nonce)
}

// AppendAddr appends the 136-byte legacy encoding: marker 0, nonce, and a
// Linux sockaddr_storage whose family (like port and IP) is big-endian.
func AppendAddr(b []byte, a EntityAddr) []byte {
	var raw [AddrLen]byte
	binary.LittleEndian.PutUint32(raw[4:], a.Nonce)
	binary.BigEndian.PutUint16(raw[8:], a.Family)
	switch a.Family {
	case FamilyInet:
		binary.BigEndian.PutUint16(raw[10:], a.Port)
		if a.IP.Is4() {
			ip := a.IP.As4()
			copy(raw[12:16], ip[:])
		}
	case FamilyInet6:
		binary.BigEndian.PutUint16(raw[10:], a.Port)
		binary.BigEndian.PutUint32(raw[12:], a.Flowinfo)
		if a.IP.Is6() {
			ip := a.IP.As16()
			copy(raw[16:32], ip[:])
		}
		binary.LittleEndian.PutUint32(raw[32:], a.ScopeID)
	}
	return append(b, raw[:]...)
}

// DecodeAddr decodes a legacy address. A non-zero marker is the msgr2-era
// form, which a legacy block never satisfies: *AddrError (§16 #4).
func DecodeAddr(b []byte) (EntityAddr, int, error) {
	if len(b) < 4 {
		return EntityAddr{}, 0, ErrShort
	}
	if m := binary.LittleEndian.Uint32(b); m != 0 {
		return EntityAddr{}, 0, &AddrError{Marker: m}
	}
	if len(b) < AddrLen {
		return EntityAddr{}, 0, ErrShort
	}
	a := EntityAddr{Type: AddrTypeLegacy, Nonce: binary.LittleEndian.Uint32(b[4:])}
	a.Family = binary.BigEndian.Uint16(b[8:])
	switch a.Family {
	case FamilyInet:
		a.Port = binary.BigEndian.Uint16(b[10:])
		a.IP = netip.AddrFrom4([4]byte(b[12:16]))
	case FamilyInet6:
		a.Port = binary.BigEndian.Uint16(b[10:])
		a.Flowinfo = binary.BigEndian.Uint32(b[12:])
		a.IP = netip.AddrFrom16([16]byte(b[16:32]))
		a.ScopeID = binary.LittleEndian.Uint32(b[32:])
	case FamilyUnspec:
		a.Type = AddrTypeNone
	default:
		// Ceph leaves the sockaddr zeroed for other families but keeps the family.
	}
	return a, AddrLen, nil
}

// Equal is Ceph's entity_addr_t equality: type, nonce and the full sockaddr.
func (a EntityAddr) Equal(o EntityAddr) bool { return a.raceKey() == o.raceKey() }

// Less is Ceph's `a < o` on the in-memory entity_addr_t of little-endian
// Linux (§11.4): memcmp over LE type, LE nonce, host-order (LE) family, BE
// port and the address bytes. The nonce's low byte dominates. Used to break
// connect races: the attempt initiated by the lower address survives.
func (a EntityAddr) Less(o EntityAddr) bool {
	ka, ko := a.raceKey(), o.raceKey()
	return bytes.Compare(ka[:], ko[:]) < 0
}

// raceKey lays the address out as Ceph's in-memory struct (36 bytes).
func (a EntityAddr) raceKey() [36]byte {
	var k [36]byte
	binary.LittleEndian.PutUint32(k[0:], a.Type)
	binary.LittleEndian.PutUint32(k[4:], a.Nonce)
	binary.LittleEndian.PutUint16(k[8:], a.Family)
	switch a.Family {
	case FamilyInet:
		binary.BigEndian.PutUint16(k[10:], a.Port)
		if a.IP.Is4() {
			ip := a.IP.As4()
			copy(k[12:16], ip[:])
		}
	case FamilyInet6:
		binary.BigEndian.PutUint16(k[10:], a.Port)
		binary.BigEndian.PutUint32(k[12:], a.Flowinfo)
		if a.IP.Is6() {
			ip := a.IP.As16()
			copy(k[16:32], ip[:])
		}
		binary.LittleEndian.PutUint32(k[32:], a.ScopeID)
	}
	return k
}

// AddrKey is a comparable identity for maps (same relation as Equal).
type AddrKey [36]byte

// Key returns the map key of the address.
func (a EntityAddr) Key() AddrKey { return AddrKey(a.raceKey()) }
