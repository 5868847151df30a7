package proxyproto

import "net/netip"

// Text forms of addresses and ports in v1 lines. They are parsed here
// rather than with netip.ParseAddr so that decoding a v1 line allocates
// nothing and so that a partial token can be judged as a prefix.

const (
	maxIPv4Text = len("255.255.255.255")
	maxIPv6Text = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")
	maxPortText = len("65535")
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexVal(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// scanIPv4 parses dotted-quad text. Strict: four decimal octets 0-255
// without leading zeros. lenient (HAProxy 2.6): 1-3 digits, leading zeros
// allowed, the value wraps modulo 256. With partial it only says whether s
// can still begin a valid address.
func scanIPv4(s []byte, lenient, partial bool) ([4]byte, bool) {
	var a [4]byte
	octet, digits, dots := 0, 0, 0
	for _, c := range s {
		switch {
		case isDigit(c):
			if digits == 3 || (!lenient && digits == 1 && octet == 0) {
				return a, false
			}
			octet = octet*10 + int(c-'0')
			if !lenient && octet > 255 {
				return a, false
			}
			digits++
		case c == '.':
			if digits == 0 || dots == 3 {
				return a, false
			}
			a[dots] = byte(octet) // wraps modulo 256 when lenient
			dots++
			octet, digits = 0, 0
		default:
			return a, false
		}
	}
	if partial {
		return a, true
	}
	if dots != 3 || digits == 0 {
		return a, false
	}
	a[3] = byte(octet)
	return a, true
}

// parseIPv6 parses RFC 4291 text (hex groups, one "::", an optional dotted
// IPv4 tail), without zones. It follows net/netip's algorithm.
func parseIPv6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off := 0
		acc := uint32(0)
		for ; off < len(s); off++ {
			v, ok := hexVal(s[off])
			if !ok {
				break
			}
			if off > 3 {
				return netip.Addr{}, false
			}
			acc = acc<<4 + v
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false
			}
			v4, ok := scanIPv4(s, false, false)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

// ipv6Prefix says whether s can still begin an IPv6 address: only hex
// digits, ':' and '.', hex groups of at most 4 digits, at most one "::",
// no ":::", and only digits and dots once a '.' was seen. The full syntax
// is checked by parseIPv6 when the token ends.
func ipv6Prefix(s []byte) bool {
	run, colons, ellipses, dotted := 0, 0, 0, false
	for _, c := range s {
		switch {
		case c == ':':
			if dotted {
				return false
			}
			colons++
			if colons == 2 {
				ellipses++
			}
			if colons > 2 || ellipses > 1 {
				return false
			}
			run = 0
		case c == '.':
			if run == 0 || run > 3 {
				return false
			}
			dotted = true
			run = 0
		default:
			if _, ok := hexVal(c); !ok || (dotted && !isDigit(c)) {
				return false
			}
			run++
			colons = 0
			if run > 4 {
				return false
			}
		}
	}
	return true
}

// scanPort parses a decimal port. Strict: 0-65535, no leading zeros.
// lenient (HAProxy 2.6): 1-5 digits, leading zeros allowed, wraps modulo
// 65536. With partial it only says whether s can still begin a port.
func scanPort(s []byte, lenient, partial bool) (uint16, bool) {
	if len(s) == 0 {
		return 0, partial
	}
	if len(s) > maxPortText {
		return 0, false
	}
	v := 0
	for i, c := range s {
		if !isDigit(c) || (!lenient && i == 1 && s[0] == '0') {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if !lenient && v > 0xFFFF {
		return 0, false
	}
	return uint16(v), true // wraps modulo 65536 when lenient
}
