package supervise

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strconv"
)

// ListeningBy reports whether the process pid owns a socket listening on
// addr ("host:port"; an empty or "*" host means any address). It reads the
// kernel's socket tables rather than connecting, so the check is invisible
// to the peer. The tables are the ones of pid's network namespace
// (/proc/PID/net/tcp), so a child started in another namespace (`ip netns
// exec`, core/netsim) is seen listening there.
func ListeningBy(pid int, addr string) (bool, error) {
	ap, err := parseListenAddr(addr)
	if err != nil {
		return false, err
	}
	owned, err := socketInodes(pid)
	if err != nil {
		return false, nil // exiting, or not started yet; WaitFor notices exits
	}
	file := "tcp"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		file = "tcp6"
	}
	ls, err := listenSockets(pid, file, owned)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // exited
	}
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		// Bound to addr itself, or to the wildcard of its family.
		if l.Port() == ap.Port() && (l.Addr() == ap.Addr().Unmap() || l.Addr().IsUnspecified()) {
			return true, nil
		}
	}
	return false, nil
}

func parseListenAddr(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: bad port", addr)
	}
	a := netip.IPv4Unspecified()
	if host != "" && host != "*" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %w", addr, err)
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}
