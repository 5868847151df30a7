// Package tlshello reads a TLS ClientHello from the first bytes a client
// sends, without terminating TLS: the server name (SNI), the ALPN
// protocols, the versions offered, as content rules need them to route a
// TLS connection that is passed through ("req.ssl_sni" and friends).
//
// Parse, Peek, ServerName and ALPN are pure functions over the bytes seen
// so far: they return ErrIncomplete until enough bytes are there, so a
// caller calls them again with the longer prefix as data arrives. They
// never read past the input, never trust a length field before the bytes
// it announces are present, and allocate only for values copied out of
// bytes actually received (Parse's server name, ALPN names and version
// list; ServerName and ALPN return slices of the input and allocate
// nothing). The whole
// ClientHello must be in the first handshake record (at most 2^14 bytes,
// RFC 8446 5.1): a hello fragmented over several records is refused with
// ErrFragmented, as HAProxy's own parser does not read one either.
package tlshello

import (
	"errors"
	"fmt"
)

// Record and handshake constants (RFC 8446).
const (
	recordTypeHandshake = 22
	// TypeClientHello is the handshake type of a ClientHello.
	TypeClientHello = 1
	recordHeaderLen = 5
	hsHeaderLen     = 4
	// MaxRecordLen is the largest plaintext record (2^14).
	MaxRecordLen = 1 << 14

	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

// Errors. Every error except ErrIncomplete is final: more bytes will not
// make the input a valid ClientHello.
var (
	// ErrIncomplete: the input is a valid prefix; more bytes are needed.
	ErrIncomplete = errors.New("tlshello: incomplete, more bytes needed")
	// ErrNotHandshake: the first record is not a TLS handshake record.
	ErrNotHandshake = errors.New("tlshello: not a TLS handshake record")
	// ErrNotClientHello: a handshake message of another type.
	ErrNotClientHello = errors.New("tlshello: handshake message is not a ClientHello")
	// ErrFragmented: the ClientHello does not fit in its first record.
	ErrFragmented = errors.New("tlshello: ClientHello fragmented over several records")
	// ErrMalformed: a length or field is invalid; the wrapping error says
	// which.
	ErrMalformed = errors.New("tlshello: malformed ClientHello")
)

// Header is what the record and handshake headers say.
type Header struct {
	// RecordVersion is the record layer's version (0x0301 for most
	// clients, whatever they negotiate).
	RecordVersion uint16
	// RecordLen is the first record's payload length.
	RecordLen int
	// HandshakeType is the first handshake message's type (1: ClientHello).
	HandshakeType uint8
	// HandshakeLen is that message's length, header excluded.
	HandshakeLen int
}

// Hello is a parsed ClientHello.
type Hello struct {
	Header
	// Version is the ClientHello's legacy_version (0x0303 for TLS 1.2 and
	// 1.3 clients).
	Version uint16
	// ServerName is the host_name of the server_name extension; "" when
	// absent.
	ServerName string
	// ALPN is the protocols of the ALPN extension, in the client's order.
	ALPN []string
	// SupportedVersions is the supported_versions extension (TLS 1.3
	// clients); nil when absent.
	SupportedVersions []uint16
	// Len is where the hello ends in the input: record header, handshake
	// header and message (a record may hold more after it).
	Len int
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// PeekRecord checks the first record header: a handshake record of TLS
// (major version 3) with a plausible length. It needs 5 bytes.
func PeekRecord(b []byte) (version uint16, length int, err error) {
	if len(b) >= 1 && b[0] != recordTypeHandshake {
		return 0, 0, ErrNotHandshake
	}
	if len(b) >= 2 && b[1] != 3 {
		return 0, 0, fmt.Errorf("%w: record version major %d", ErrNotHandshake, b[1])
	}
	if len(b) < recordHeaderLen {
		return 0, 0, ErrIncomplete
	}
	version = uint16(b[1])<<8 | uint16(b[2])
	length = int(b[3])<<8 | int(b[4])
	if length == 0 || length > MaxRecordLen {
		return 0, 0, malformed("record length %d", length)
	}
	return version, length, nil
}

// Peek reads the record and handshake headers and reports ErrIncomplete
// until the whole first handshake message is there. It accepts any
// handshake type (HAProxy's req.ssl_hello_type reports it).
func Peek(b []byte) (Header, error) {
	var h Header
	v, rl, err := PeekRecord(b)
	if err != nil {
		return h, err
	}
	h.RecordVersion, h.RecordLen = v, rl
	if rl < hsHeaderLen {
		return h, malformed("record of %d bytes cannot hold a handshake header", rl)
	}
	if len(b) < recordHeaderLen+hsHeaderLen {
		return h, ErrIncomplete
	}
	p := b[recordHeaderLen:]
	h.HandshakeType = p[0]
	h.HandshakeLen = int(p[1])<<16 | int(p[2])<<8 | int(p[3])
	if hsHeaderLen+h.HandshakeLen > rl {
		return h, ErrFragmented
	}
	if len(b) < recordHeaderLen+hsHeaderLen+h.HandshakeLen {
		return h, ErrIncomplete
	}
	return h, nil
}

// Parse reads the ClientHello at the start of b. Bytes after it are
// ignored.
func Parse(b []byte) (Hello, error) {
	var hello Hello
	r, err := scan(b)
	hello.Header, hello.Version, hello.Len = r.hdr, r.version, r.end
	if err != nil {
		return hello, err
	}
	if r.sni != nil {
		hello.ServerName = string(r.sni)
	}
	if r.alpn != nil {
		for list := r.alpn; len(list) > 0; {
			v, _ := list.vec8() // checked by scan
			hello.ALPN = append(hello.ALPN, string(v))
		}
	}
	if r.versions != nil {
		hello.SupportedVersions = make([]uint16, 0, len(r.versions)/2)
		for list := r.versions; len(list) > 0; {
			v, _ := list.u16()
			hello.SupportedVersions = append(hello.SupportedVersions, v)
		}
	}
	return hello, nil
}

// ServerName is Parse's ServerName without copying: the host name as a
// slice of b (nil when the hello has none). It allocates nothing unless
// the hello is malformed (the error says where).
func ServerName(b []byte) ([]byte, error) {
	r, err := scan(b)
	return r.sni, err
}

// ALPN is the ALPN extension's protocol_name_list as a slice of b: a
// sequence of one-byte lengths each followed by that many bytes, checked
// (nil when the hello has no ALPN). It allocates nothing unless the hello
// is malformed.
func ALPN(b []byte) ([]byte, error) {
	r, err := scan(b)
	return r.alpn, err
}

// scanned is a ClientHello with its variable parts as slices of the
// input, checked.
type scanned struct {
	hdr      Header
	version  uint16
	end      int
	sni      []byte
	alpn     reader // the protocol name list
	versions reader // the version list
}

func scan(b []byte) (scanned, error) {
	var out scanned
	h, err := Peek(b)
	out.hdr = h
	if err != nil {
		return out, err
	}
	if h.HandshakeType != TypeClientHello {
		return out, ErrNotClientHello
	}
	out.end = recordHeaderLen + hsHeaderLen + h.HandshakeLen
	r := reader(b[recordHeaderLen+hsHeaderLen : out.end])
	var ok bool
	if out.version, ok = r.u16(); !ok {
		return out, malformed("no version")
	}
	if out.version>>8 != 3 {
		return out, malformed("client version %#04x", out.version)
	}
	if _, ok = r.bytes(32); !ok {
		return out, malformed("no random")
	}
	sid, ok := r.vec8()
	if !ok || len(sid) > 32 {
		return out, malformed("session id")
	}
	suites, ok := r.vec16()
	if !ok || len(suites) < 2 || len(suites)%2 != 0 {
		return out, malformed("cipher suites")
	}
	comp, ok := r.vec8()
	if !ok || len(comp) < 1 {
		return out, malformed("compression methods")
	}
	if len(r) == 0 {
		return out, nil // no extensions (SSLv3-era clients)
	}
	exts, ok := r.vec16()
	if !ok || len(r) != 0 {
		return out, malformed("extensions length")
	}
	var seen [3]bool // server_name, alpn, supported_versions
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		data, ok2 := exts.vec16()
		if !ok1 || !ok2 {
			return out, malformed("extension header")
		}
		var idx int
		switch typ {
		case extServerName:
			idx = 0
		case extALPN:
			idx = 1
		case extSupportedVersions:
			idx = 2
		default:
			continue
		}
		if seen[idx] {
			return out, malformed("duplicate extension %d", typ)
		}
		seen[idx] = true
		var err error
		switch typ {
		case extServerName:
			out.sni, err = parseSNI(data)
		case extALPN:
			out.alpn, err = parseALPN(data)
		case extSupportedVersions:
			out.versions, err = parseVersions(data)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// parseSNI reads server_name (RFC 6066 3): the first host_name entry.
func parseSNI(d reader) ([]byte, error) {
	list, ok := d.vec16()
	if !ok || len(d) != 0 || len(list) == 0 {
		return nil, malformed("server_name list")
	}
	var name []byte
	for len(list) > 0 {
		typ, ok1 := list.u8()
		v, ok2 := list.vec16()
		if !ok1 || !ok2 {
			return nil, malformed("server_name entry")
		}
		if typ == 0 && name == nil {
			if len(v) == 0 {
				return nil, malformed("empty host_name")
			}
			name = v
		}
	}
	return name, nil
}

// parseALPN checks application_layer_protocol_negotiation (RFC 7301) and
// returns its protocol name list.
func parseALPN(d reader) (reader, error) {
	list, ok := d.vec16()
	if !ok || len(d) != 0 || len(list) == 0 {
		return nil, malformed("ALPN list")
	}
	for l := list; len(l) > 0; {
		v, ok := l.vec8()
		if !ok || len(v) == 0 {
			return nil, malformed("ALPN protocol name")
		}
	}
	return list, nil
}

// parseVersions checks supported_versions (RFC 8446 4.2.1, ClientHello
// form) and returns its version list.
func parseVersions(d reader) (reader, error) {
	list, ok := d.vec8()
	if !ok || len(d) != 0 || len(list) < 2 || len(list)%2 != 0 {
		return nil, malformed("supported_versions list")
	}
	return list, nil
}

// reader consumes a byte slice; every method checks the length first.
type reader []byte

func (r *reader) u8() (uint8, bool) {
	if len(*r) < 1 {
		return 0, false
	}
	v := (*r)[0]
	*r = (*r)[1:]
	return v, true
}

func (r *reader) u16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := uint16((*r)[0])<<8 | uint16((*r)[1])
	*r = (*r)[2:]
	return v, true
}

func (r *reader) bytes(n int) (reader, bool) {
	if len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) vec8() (reader, bool) {
	n, ok := r.u8()
	if !ok {
		return nil, false
	}
	return r.bytes(int(n))
}

func (r *reader) vec16() (reader, bool) {
	n, ok := r.u16()
	if !ok {
		return nil, false
	}
	return r.bytes(int(n))
}
