package peers

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (the
// kernel picks it for a listener on port 0, which is then closed). Another
// process may take it before the caller binds it; the starts below report
// that case clearly (the peer exits with "address in use").
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct free ports on 127.0.0.1 in ascending order
// (ceph-mon ranks monitors by address, so callers wanting mon.a to be rank 0
// give it the first).
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("peers: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	sort.Ints(ports)
	return ports, nil
}

// listeningBy reports whether the process pid owns a socket listening on
// addr ("host:port"; an empty or "*" host means any address). It reads the
// kernel's socket tables rather than connecting, so the check is invisible
// to the peer.
func listeningBy(pid int, addr string) (bool, error) {
	ap, err := parseListenAddr(addr)
	if err != nil {
		return false, err
	}
	inodes, err := listenInodes(ap)
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return false, nil // exiting, or not started yet; waitFor notices exits
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err != nil {
			continue
		}
		if strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
			return true, nil
		}
	}
	return false, nil
}

func parseListenAddr(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("peers: address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("peers: address %q: bad port", addr)
	}
	a := netip.IPv4Unspecified()
	if host != "" && host != "*" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("peers: address %q: %w", addr, err)
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// listenInodes returns the inodes of sockets in state LISTEN that accept
// connections to ap: bound to ap itself or to the wildcard of its family.
func listenInodes(ap netip.AddrPort) (map[string]bool, error) {
	file := "/proc/net/tcp"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		file = "/proc/net/tcp6"
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("peers: read socket table: %w", err)
	}
	defer f.Close()
	want := map[string]bool{procAddr(ap.Addr(), ap.Port()): true}
	if ap.Addr().Is4() {
		want[procAddr(netip.IPv4Unspecified(), ap.Port())] = true
	} else {
		want[procAddr(netip.IPv6Unspecified(), ap.Port())] = true
	}
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		if want[fs[1]] {
			inodes[fs[9]] = true
		}
	}
	return inodes, sc.Err()
}

// procAddr formats an address as /proc/net/tcp does: the address as the
// kernel's native-endian 32-bit words in hex, then the port in hex.
func procAddr(a netip.Addr, port uint16) string {
	var raw []byte
	if a.Is4() {
		b := a.As4()
		raw = b[:]
	} else {
		b := a.As16()
		raw = b[:]
	}
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 { // little-endian words (amd64, arm64)
		out[i], out[i+1], out[i+2], out[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return strings.ToUpper(hex.EncodeToString(out)) + fmt.Sprintf(":%04X", port)
}

// documentation holds the ranges a test may use inside a network namespace
// it created (RFC 5737); everything else but loopback is off limits.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// checkLocalAddr accepts "host:port" on IPv4 loopback or in a
// documentation range: the only addresses a peer may be given.
func checkLocalAddr(hostport string) error {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: want IPv4:PORT: %w", hostport, err)
	}
	a := ap.Addr()
	if !a.Is4() {
		return fmt.Errorf("address %q: want IPv4", hostport)
	}
	if a.IsLoopback() {
		return nil
	}
	for _, p := range documentation {
		if p.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("address %q: want 127.0.0.0/8 or a documentation range (RFC 5737)", hostport)
}
