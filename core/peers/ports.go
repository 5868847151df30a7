package peers

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (PickPort). Another process may still take it before the caller binds
// it; the starts below report that case clearly (the peer exits with
// "address in use").
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
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := PickPort(net.Listen, "127.0.0.1")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	sort.Ints(ports)
	return ports, nil
}

// PickPort returns a TCP port on host, for a process that must be told its
// port up front (haproxy, ceph-mon, a proxy's bind line): one that listen
// could bind a moment ago, chosen at random below the kernel's ephemeral
// range (net.ipv4.ip_local_port_range).
//
// Why not the port a listener on :0 gets: the kernel takes that from the
// ephemeral range, the same range it takes every outgoing connection's
// source port from, so between our close and the peer's bind a load
// generator's connect could take it as its source port and the peer's
// bind failed with "address already in use" (seen in 2 of about 10 perf
// runs of proxy-idle, which opens thousands of connections while the next
// target starts). Below the range only an explicit bind takes a port, and
// the random choice makes two pickers unlikely to meet. Falls back to :0
// when the range cannot be read or leaves no room below it.
func PickPort(listen func(network, address string) (net.Listener, error), host string) (int, error) {
	if lo, ok := ephemeralLow(); ok && lo-pickFloor >= 1024 {
		for range 64 {
			p := pickFloor + rand.IntN(lo-pickFloor)
			if l, err := listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				l.Close()
				return p, nil
			}
		}
	}
	l, err := listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("peers: free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pickFloor is the lowest port PickPort picks: above the well-known and
// most registered services' ports.
const pickFloor = 10000

// ephemeralLow is the low end of the kernel's ephemeral port range.
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	return parsePortRangeLow(string(b))
}

// parsePortRangeLow reads "LOW<whitespace>HIGH".
func parsePortRangeLow(s string) (int, bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, false
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < 1 || lo > 65535 {
		return 0, false
	}
	return lo, true
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
