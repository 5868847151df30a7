package proxyproto

import "net/netip"

const v1Prefix = "PROXY "

// v1 protocol tokens, each with the byte that must follow it.
var v1Tokens = [...]string{"TCP4 ", "TCP6 ", "UNKNOWN"}

// decodeV1 walks the line byte by byte, so a bad byte is refused when it
// arrives rather than when the CRLF does. It never looks past MaxV1Len.
func (d Decoder) decodeV1(b []byte) (Header, int, error) {
	line := b[:min(len(b), MaxV1Len)]
	for i := 0; i < len(v1Prefix); i++ {
		if i == len(line) {
			return Header{}, 0, ErrNeedMore
		}
		if line[i] != v1Prefix[i] {
			return Header{}, 0, errorf(KindNotProxy, 0, i, "byte %q where %q of \"PROXY \" was expected", line[i], v1Prefix[i])
		}
	}
	p := len(v1Prefix)
	rest := line[p:]
	switch {
	case hasPrefix(rest, v1Tokens[0]):
		return d.decodeV1Inet(line, p+len(v1Tokens[0]), TCP4)
	case hasPrefix(rest, v1Tokens[1]):
		return d.decodeV1Inet(line, p+len(v1Tokens[1]), TCP6)
	case hasPrefix(rest, v1Tokens[2]):
		return d.decodeV1Unknown(line, p+len(v1Tokens[2]))
	}
	for _, tok := range v1Tokens {
		if len(rest) < len(tok) && tok[:len(rest)] == string(rest) {
			return Header{}, 0, ErrNeedMore
		}
	}
	return Header{}, 0, errorf(KindUnhandledProtocol, 1, p, "protocol %q is not TCP4, TCP6 or UNKNOWN", clip(rest, 8))
}

// decodeV1Unknown: the spec lets anything but CR and LF follow UNKNOWN;
// HAProxy 2.6 takes only the exact short form "PROXY UNKNOWN\r\n".
func (d Decoder) decodeV1Unknown(line []byte, p int) (Header, int, error) {
	for i := p; i < len(line); i++ {
		c := line[i]
		if d.Compat == CompatHAProxy26 && c != "\r\n"[i-p] {
			return Header{}, 0, errorf(KindUnhandledProtocol, 1, i, "HAProxy 2.6 accepts only the exact line \"PROXY UNKNOWN\\r\\n\"")
		}
		switch c {
		case '\n':
			return Header{}, 0, errorf(KindInvalid, 1, i, "LF without CR")
		case '\r':
			if i+1 == len(line) {
				return needMoreV1(line)
			}
			if line[i+1] != '\n' {
				if d.Compat == CompatHAProxy26 {
					return Header{}, 0, errorf(KindUnhandledProtocol, 1, i+1, "HAProxy 2.6 accepts only the exact line \"PROXY UNKNOWN\\r\\n\"")
				}
				return Header{}, 0, errorf(KindInvalid, 1, i+1, "CR followed by %q, not LF", line[i+1])
			}
			return Header{Version: 1, Command: CmdLocal}, i + 2, nil
		}
	}
	return needMoreV1(line)
}

// needMoreV1 asks for more bytes unless the 107-byte limit is reached.
func needMoreV1(line []byte) (Header, int, error) {
	if len(line) >= MaxV1Len {
		return Header{}, 0, errorf(KindInvalid, 1, MaxV1Len, "no CRLF within %d bytes", MaxV1Len)
	}
	return Header{}, 0, ErrNeedMore
}

var v1FieldNames = [4]string{"source address", "destination address", "source port", "destination port"}

// decodeV1Inet parses "SRC DST SPORT DPORT\r\n" after "PROXY TCP4 " or
// "PROXY TCP6 ". Each byte is checked against its field's character set as
// it arrives; a field is parsed in full at its terminator, and a partial
// field must be a valid prefix.
func (d Decoder) decodeV1Inet(line []byte, p int, tr Transport) (Header, int, error) {
	lenient := d.Compat == CompatHAProxy26
	var addrs [2]netip.Addr
	var ports [2]uint16
	for f := 0; f < 4; f++ {
		term, maxLen := byte(' '), maxPortText
		if f == 3 {
			term = '\r'
		}
		if f < 2 {
			maxLen = maxIPv4Text
			if tr == TCP6 {
				maxLen = maxIPv6Text
			}
		}
		start, end := p, -1
		for i := p; i < len(line); i++ {
			c := line[i]
			if c == term {
				end = i
				break
			}
			if !fieldChar(f, tr, c) {
				return Header{}, 0, errorf(KindInvalid, 1, i, "unexpected byte %q in the %s", c, v1FieldNames[f])
			}
			if i-start >= maxLen {
				return Header{}, 0, errorf(KindInvalid, 1, i, "%s longer than %d bytes", v1FieldNames[f], maxLen)
			}
		}
		if end < 0 {
			if !fieldPrefix(f, tr, line[start:], lenient) {
				return Header{}, 0, errorf(KindInvalid, 1, start, "%s %q cannot become valid", v1FieldNames[f], line[start:])
			}
			return needMoreV1(line)
		}
		tok := line[start:end]
		var ok bool
		if f < 2 {
			if tr == TCP4 {
				var a [4]byte
				a, ok = scanIPv4(tok, lenient, false)
				addrs[f] = netip.AddrFrom4(a)
			} else {
				addrs[f], ok = parseIPv6(tok)
			}
		} else {
			ports[f-2], ok = scanPort(tok, lenient, false)
		}
		if !ok {
			return Header{}, 0, errorf(KindInvalid, 1, start, "bad %s %q for %s", v1FieldNames[f], tok, tr)
		}
		p = end + 1
	}
	if p == len(line) {
		return needMoreV1(line)
	}
	if line[p] != '\n' {
		return Header{}, 0, errorf(KindInvalid, 1, p, "CR followed by %q, not LF", line[p])
	}
	return Header{
		Version:     1,
		Command:     CmdProxy,
		Transport:   tr,
		Source:      netip.AddrPortFrom(addrs[0], ports[0]),
		Destination: netip.AddrPortFrom(addrs[1], ports[1]),
	}, p + 1, nil
}

// fieldChar is the character set of field f (0-1 addresses, 2-3 ports).
func fieldChar(f int, tr Transport, c byte) bool {
	switch {
	case f >= 2:
		return isDigit(c)
	case tr == TCP4:
		return isDigit(c) || c == '.'
	}
	_, hex := hexVal(c)
	return hex || c == ':' || c == '.'
}

func fieldPrefix(f int, tr Transport, s []byte, lenient bool) bool {
	switch {
	case f >= 2:
		_, ok := scanPort(s, lenient, true)
		return ok
	case tr == TCP4:
		_, ok := scanIPv4(s, lenient, true)
		return ok
	}
	return ipv6Prefix(s)
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
