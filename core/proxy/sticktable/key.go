package sticktable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Type is a table's key type (HAProxy's "type" argument of stick-table).
type Type uint8

// Key types. HAProxy's "binary" is not supported: no fetch of this proxy
// produces binary samples.
const (
	TypeIP      Type = iota + 1 // IPv4 address
	TypeIPv6                    // IPv6 address (IPv4 stored mapped)
	TypeInteger                 // 32-bit unsigned integer
	TypeString                  // string of at most Config.KeyLen bytes
)

var typeNames = [...]string{TypeIP: "ip", TypeIPv6: "ipv6", TypeInteger: "integer", TypeString: "string"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType reads a stick-table type keyword.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n != "" && n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// DefaultStringLen is HAProxy's default "len" of string keys.
const DefaultStringLen = 32

// MaxStringLen bounds "len" for string keys: a key is copied into the
// table, so its length is memory the configuration commits per entry.
const MaxStringLen = 65535

// Key is a table key, comparable (it indexes a map) and built without
// allocating for addresses and integers. Build it with the table's Key*
// methods or ParseKey, which apply the table's type and length.
type Key struct {
	b [16]byte // ip: b[:4]; ipv6: b[:16]; integer: b[:4], big endian
	s string   // string keys, already truncated to the table's length
}

// KeyAddr is the key of an address in a table of type t: an ip table
// takes IPv4 addresses (an IPv4-mapped IPv6 address is unmapped, another
// IPv6 address has no key, as HAProxy's ipv6-to-ipv4 conversion fails);
// an ipv6 table stores IPv4 addresses mapped (::ffff:a.b.c.d). Integer and
// string tables take the address as text (HAProxy's ip-to-str cast).
func KeyAddr(t Type, strLen int, a netip.Addr) (Key, bool) {
	var k Key
	switch t {
	case TypeIP:
		a = a.Unmap()
		if !a.Is4() {
			return k, false
		}
		v4 := a.As4()
		copy(k.b[:4], v4[:])
	case TypeIPv6:
		if !a.IsValid() {
			return k, false
		}
		k.b = a.As16()
	case TypeString:
		if !a.IsValid() {
			return k, false
		}
		return KeyString(strLen, a.Unmap().String()), true
	default:
		return k, false
	}
	return k, true
}

// KeyInt is the key of an integer: HAProxy keeps the low 32 bits.
func KeyInt(v int64) Key {
	var k Key
	binary.BigEndian.PutUint32(k.b[:4], uint32(v))
	return k
}

// KeyString is the key of s in a string table of length strLen: s is cut
// at its first NUL (keys are C strings in HAProxy) and at strLen bytes.
func KeyString(strLen int, s string) Key {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if len(s) > strLen {
		s = s[:strLen]
	}
	return Key{s: s}
}

// ErrBadKey is returned by ParseKey for text that is not a key of the
// table's type.
var ErrBadKey = errors.New("invalid key")

// ParseKey reads the text form of a key (the runtime API's "key K"), as
// HAProxy does: an IPv4 address for ip tables, an IPv6 address for ipv6
// tables (an IPv4 address is accepted and mapped), a decimal number up to
// 4294967295 for integer tables, any text for string tables (cut at strLen
// bytes). The error wraps ErrBadKey.
func ParseKey(t Type, strLen int, text string) (Key, error) {
	switch t {
	case TypeIP:
		a, err := netip.ParseAddr(text)
		if err != nil || !a.Is4() {
			return Key{}, fmt.Errorf("%w: %q is not an IPv4 address", ErrBadKey, text)
		}
		k, _ := KeyAddr(t, strLen, a)
		return k, nil
	case TypeIPv6:
		a, err := netip.ParseAddr(text)
		if err != nil || a.Zone() != "" {
			return Key{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrBadKey, text)
		}
		k, _ := KeyAddr(t, strLen, a)
		return k, nil
	case TypeInteger:
		v, err := strconv.ParseUint(text, 10, 32)
		if err != nil {
			return Key{}, fmt.Errorf("%w: %q is not an integer from 0 to 4294967295", ErrBadKey, text)
		}
		return KeyInt(int64(v)), nil
	case TypeString:
		if strLen <= 0 {
			return Key{}, fmt.Errorf("%w: string table without length", ErrBadKey)
		}
		return KeyString(strLen, text), nil
	}
	return Key{}, fmt.Errorf("%w: unknown table type %d", ErrBadKey, t)
}

// appendKey writes k as "show table" does: dotted IPv4, inet_ntop IPv6,
// an unsigned decimal, or text with HAProxy's dump_text escapes.
func appendKey(b []byte, t Type, k Key) []byte {
	switch t {
	case TypeIP:
		return netip.AddrFrom4([4]byte(k.b[:4])).AppendTo(b)
	case TypeIPv6:
		return netip.AddrFrom16(k.b).AppendTo(b)
	case TypeInteger:
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(k.b[:4])), 10)
	case TypeString:
		return appendText(b, k.s)
	}
	return b
}

// appendText is HAProxy's dump_text: printable ASCII as is except '\\',
// ' ' and '=', which are backslash-escaped like \t \n \r \e, others \xHH.
func appendText(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			return b
		case c > 0x20 && c < 0x7f && c != '\\' && c != '=':
			b = append(b, c)
		case c == ' ', c == '\\', c == '=':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == 0x1b:
			b = append(b, '\\', 'e')
		default:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// Addr returns the address of an ip or ipv6 key.
func (k Key) Addr(t Type) (netip.Addr, bool) {
	switch t {
	case TypeIP:
		return netip.AddrFrom4([4]byte(k.b[:4])), true
	case TypeIPv6:
		return netip.AddrFrom16(k.b), true
	}
	return netip.Addr{}, false
}
