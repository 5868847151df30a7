package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxPortRange bounds one bind port range, so a typo cannot make the proxy
// open tens of thousands of listeners.
const maxPortRange = 1024

// splitHostPort cuts HAProxy's address syntax: "host:port", "[v6]:port",
// "v6:port" (the last colon starts the port), ":port", "*:port", with an
// optional "ipv4@" or "ipv6@" prefix. It returns the host ("" for any) and
// the port text ("" when absent).
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "ipv6@") || strings.HasPrefix(s, "tcp6@") {
		h, p, err := splitHostPort(s[5:])
		if err == nil && (h == "" || h == "*") {
			h = "::" // the IPv6 wildcard
		}
		return h, p, err
	}
	switch {
	case strings.HasPrefix(s, "ipv4@"), strings.HasPrefix(s, "ipv6@"), strings.HasPrefix(s, "tcp@"),
		strings.HasPrefix(s, "tcp4@"), strings.HasPrefix(s, "tcp6@"):
		s = s[strings.IndexByte(s, '@')+1:]
	case strings.Contains(s, "@"):
		return "", "", fmt.Errorf("address '%s': only TCP addresses are supported (no unix@, abns@, fd@, sockpair@, udp@)", s)
	case strings.HasPrefix(s, "/"):
		return "", "", fmt.Errorf("address '%s': UNIX sockets are not supported", s)
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("address '%s': missing ']'", s)
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' {
			return "", "", fmt.Errorf("address '%s': expects ':' after ']'", s)
		}
		return host, rest[1:], nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", nil
	}
	host, port = s[:i], s[i+1:]
	// "::1" alone would split into "::" and "1"; HAProxy reads it the same
	// way, so configs write "::1:80" or "[::1]:80". Nothing to undo here.
	return host, port, nil
}

// normHost turns HAProxy's "any" spellings into a literal address.
func normHost(host string) string {
	if host == "" || host == "*" {
		return "0.0.0.0"
	}
	return host
}

func checkHost(host string) error {
	if host == "" {
		return fmt.Errorf("empty host")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	// A host name: letters, digits, '-', '.', '_'.
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c == '-' || c == '.' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("invalid host '%s'", host)
		}
	}
	return nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port '%s'", s)
	}
	return int(p), nil
}

// parseBindAddrs reads a bind address list: "addr:port[-port][,addr:port...]".
// It returns engine-ready "host:port" strings (IPv6 bracketed).
func parseBindAddrs(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		host, port, err := splitHostPort(part)
		if err != nil {
			return nil, err
		}
		if port == "" {
			return nil, fmt.Errorf("bind address '%s': missing port", part)
		}
		host = normHost(host)
		if err := checkHost(host); err != nil {
			return nil, fmt.Errorf("bind address '%s': %v", part, err)
		}
		lo, hi := port, port
		if i := strings.IndexByte(port, '-'); i >= 0 {
			lo, hi = port[:i], port[i+1:]
		}
		plo, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("bind address '%s': %v", part, err)
		}
		phi, err := parsePort(hi)
		if err != nil {
			return nil, fmt.Errorf("bind address '%s': %v", part, err)
		}
		if phi < plo || phi-plo >= maxPortRange {
			return nil, fmt.Errorf("bind address '%s': invalid port range (at most %d ports)", part, maxPortRange)
		}
		for p := plo; p <= phi; p++ {
			out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	return out, nil
}

// parseServerAddr reads a server address. Port 0 means "the port the client
// connected to", HAProxy's port-less server form.
func parseServerAddr(s string) (host string, port int, err error) {
	h, p, err := splitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	if err := checkHost(h); err != nil {
		return "", 0, fmt.Errorf("server address '%s': %v", s, err)
	}
	if p == "" {
		return h, 0, nil
	}
	if strings.HasPrefix(p, "+") || strings.HasPrefix(p, "-") {
		return "", 0, fmt.Errorf("server address '%s': port offsets are not supported", s)
	}
	port, err = parsePort(p)
	if err != nil {
		return "", 0, fmt.Errorf("server address '%s': %v", s, err)
	}
	if port == 0 {
		return "", 0, fmt.Errorf("server address '%s': port 0", s)
	}
	return h, port, nil
}

// parsePrefix reads an ACL src pattern: an address or address/len, IPv4 or
// IPv6. IPv4-mapped IPv6 addresses are unmapped so that one pattern matches
// a client whatever family its socket uses.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// HAProxy also takes a dotted netmask: 10.0.0.0/255.0.0.0.
			addr, mask, _ := strings.Cut(s, "/")
			a, err1 := netip.ParseAddr(addr)
			m, err2 := netip.ParseAddr(mask)
			if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
				return netip.Prefix{}, fmt.Errorf("invalid network '%s'", s)
			}
			ones, bits := net.IPMask(m.AsSlice()).Size()
			if bits == 0 {
				return netip.Prefix{}, fmt.Errorf("invalid netmask in '%s'", s)
			}
			return netip.PrefixFrom(a, ones).Masked(), nil
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address '%s'", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
