package rawepoll

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Conversions between net.TCPAddr and the kernel's socket addresses.

func toSockaddr(a *net.TCPAddr) (unix.Sockaddr, int, error) {
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET, nil
	}
	if ip6 := a.IP.To16(); ip6 != nil {
		sa := &unix.SockaddrInet6{Port: a.Port}
		copy(sa.Addr[:], ip6)
		if a.Zone != "" {
			if ifi, err := net.InterfaceByName(a.Zone); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			}
		}
		return sa, unix.AF_INET6, nil
	}
	if a.IP == nil {
		return &unix.SockaddrInet6{Port: a.Port}, unix.AF_INET6, nil
	}
	return nil, 0, fmt.Errorf("unsupported address %v", a)
}

func fromSockaddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		if isV4Mapped(sa.Addr[:]) {
			ip = ip.To4()
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port}
	}
	return nil
}

func isV4Mapped(b []byte) bool {
	for _, x := range b[:10] {
		if x != 0 {
			return false
		}
	}
	return b[10] == 0xff && b[11] == 0xff
}
