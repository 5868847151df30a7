package peers

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
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
