package memengine

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Virtual port ranges. Listen(":0") takes ports from the first, the local
// side of a Dial from the second (Linux's ephemeral range), so the two never
// collide.
const (
	firstListenPort    = 20000
	lastListenPort     = 32767
	firstEphemeralPort = 32768
	lastEphemeralPort  = 60999
)

// AddrError reports an address the in-memory engine cannot use: it resolves
// no names except "localhost" and accepts only numeric ports.
type AddrError struct {
	Addr   string
	Reason string
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("memengine: address %q: %s", e.Addr, e.Reason)
}

// parseAddr turns "host:port" into an address. An empty host means the
// wildcard when listening and loopback when dialling, as the kernel does.
func parseAddr(s string, listen bool) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, &AddrError{Addr: s, Reason: err.Error()}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, &AddrError{Addr: s, Reason: "port must be a number from 0 to 65535"}
	}
	var ip netip.Addr
	switch host {
	case "":
		if listen {
			ip = netip.IPv4Unspecified()
		} else {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	case "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, &AddrError{Addr: s, Reason: "host must be an IP address or localhost (no name resolution in memory)"}
		}
		ip = ip.WithZone("").Unmap()
	}
	if !listen && (p == 0 || ip.IsUnspecified()) {
		if p == 0 {
			return netip.AddrPort{}, &AddrError{Addr: s, Reason: "cannot dial port 0"}
		}
		// Dialling 0.0.0.0 reaches the local host, as on Linux.
		if ip.Is4() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

func tcpAddr(ap netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap) }

// wildcardFor is the unspecified address of ap's family.
func wildcardFor(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
}

// localIPFor is the source address of a connection to remote: the remote
// address itself (every virtual address is local), so a dial to ::1 comes
// from ::1.
func localIPFor(remote netip.AddrPort) netip.Addr { return remote.Addr() }
