package rawepoll

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// toSockaddr converts a resolved address for bind or connect. A nil IP is
// the IPv6 wildcard (dual-stack: bindListen clears IPV6_V6ONLY); a
// v4-mapped IPv6 address goes out as IPv4.
func toSockaddr(a *net.TCPAddr) (unix.Sockaddr, int, error) {
	ip, ok := netip.AddrFromSlice(a.IP)
	switch {
	case a.IP == nil:
		return &unix.SockaddrInet6{Port: a.Port}, unix.AF_INET6, nil
	case !ok:
		return nil, 0, fmt.Errorf("unsupported address %v", a)
	case ip.Unmap().Is4():
		return &unix.SockaddrInet4{Port: a.Port, Addr: ip.Unmap().As4()}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port, Addr: ip.As16()}
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6, nil
}

// fromSockaddr is the kernel's address as a *net.TCPAddr (v4-mapped
// addresses come back as IPv4, as the net package reports them).
func fromSockaddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)))
	}
	return nil
}
