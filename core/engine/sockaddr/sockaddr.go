// Package sockaddr moves socket addresses between the kernel and netip
// without allocating, for engines that make their own sockets (rawepoll,
// gnet). x/sys/unix's Accept4 and Getsockname allocate the raw address and
// a Sockaddr on every call, and net.ResolveTCPAddr goes through the
// resolver even for a literal address: a few hundred bytes per connection
// that a server holding many idle ones keeps paying in RSS until the
// collector runs.
package sockaddr

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Accept4 is accept4(2): the new socket and the peer's address (a
// v4-mapped address comes back as IPv4, as package net reports it).
// Errors are the bare errno (a syscall.Errno), as unix.Accept4's.
func Accept4(fd, flags int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)), uintptr(flags), 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(nfd), decode(&rsa), nil
}

// SockName is getsockname(2) as a netip.AddrPort.
func SockName(fd int) (netip.AddrPort, error) { return name(unix.SYS_GETSOCKNAME, fd) }

// PeerName is getpeername(2) as a netip.AddrPort.
func PeerName(fd int) (netip.AddrPort, error) { return name(unix.SYS_GETPEERNAME, fd) }

func name(trap uintptr, fd int) (netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return decode(&rsa), nil
}

// decode reads an AF_INET or AF_INET6 address (the zero AddrPort for any
// other family). The port is in network byte order in both.
func decode(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// TCPAddr is ap as the *net.TCPAddr package net would report (nil for
// the zero AddrPort).
func TCPAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// LocalAddr is fd's local address as package net reports it. When hint
// names one IP address and a port (a listener's specific bind, or what
// package net learnt when it dialed), that is the answer (through
// CloneAddr), with no system call: AcceptedLocal. Otherwise it comes
// from the kernel (getsockname), as a library's own idea of it may be the
// listener's configured address, port 0 and all; without an answer,
// CloneAddr(hint).
func LocalAddr(fd int, hint net.Addr) net.Addr {
	if AcceptedLocal(hint) != nil {
		return CloneAddr(hint)
	}
	if ap, err := SockName(fd); err == nil && ap.IsValid() {
		return TCPAddr(ap)
	}
	return CloneAddr(hint)
}

// AcceptedLocal is the local address of a socket accepted on a listener
// bound to bound, without asking the kernel: bound itself when it names
// one IP address and a port (the connection's local address can be
// nothing else), nil for a wildcard bind or port 0, where only
// getsockname(2) knows (LocalAddr). HAProxy likewise asks the kernel only
// when something needs the address.
func AcceptedLocal(bound net.Addr) net.Addr {
	if ta, ok := bound.(*net.TCPAddr); ok && ta.IP != nil && !ta.IP.IsUnspecified() && ta.Port != 0 {
		return bound
	}
	return nil
}

// CloneAddr copies a *net.TCPAddr that has an IPv6 zone, for an address
// a library hands out but may recycle: gnet puts a zone's bytes back in
// its pool when the connection closes, and nothing else (its IP bytes
// live in the accepted socket's own unix.Sockaddr, which it drops, or in
// package net's address, which nobody changes). Any other address comes
// back as it is: copying every one cost a gnet proxy session 256 bytes
// for as long as it lived (issue 17, proxy-idle).
func CloneAddr(a net.Addr) net.Addr {
	if ta, ok := a.(*net.TCPAddr); ok && ta.Zone != "" {
		return &net.TCPAddr{IP: slices.Clone(ta.IP), Port: ta.Port, Zone: strings.Clone(ta.Zone)}
	}
	return a
}

// ResolveTCP is net.ResolveTCPAddr("tcp", addr) with a fast path for a
// literal IP address and numeric port, which is what a proxy's server
// lines usually hold: no resolver, one small allocation.
func ResolveTCP(addr string) (*net.TCPAddr, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.TCPAddrFromAddrPort(ap), nil
	}
	return net.ResolveTCPAddr("tcp", addr)
}

// DialTCP connects to addr with package net, as net.Dialer{Timeout:
// timeout, KeepAlive: -1}.DialContext(ctx, "tcp", addr) does (no
// SO_KEEPALIVE, as HAProxy).
//
// Not through Dialer.DialTCP, though it skips the resolver for a literal
// address (300 bytes less garbage per dial): it takes the local address
// as a netip.AddrPort, and an unset one still becomes a *TCPAddr of
// 0.0.0.0:0, so package net binds before it connects. A socket bound to
// port 0 gets its ephemeral port exclusively, not shared with other
// destinations as connect(2)'s own choice is, and holds it through
// TIME_WAIT. With it, a proxy's backend dials used up the ephemeral range
// in the conformance suite: proxy-churn-100k failed its relays, and the
// next case's 10,000 connects failed with EADDRNOTAVAIL.
func DialTCP(ctx context.Context, addr string, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok { // cannot happen with "tcp"
		_ = nc.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%s: not a TCP connection", addr)}
	}
	return tc, nil
}

// ToUnix converts a resolved address for bind(2) or connect(2), with its
// address family. A nil IP is the IPv6 wildcard (dual-stack: the caller
// clears IPV6_V6ONLY); a v4-mapped IPv6 address goes out as IPv4.
func ToUnix(a *net.TCPAddr) (unix.Sockaddr, int, error) {
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
