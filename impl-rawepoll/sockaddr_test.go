package rawepoll

import (
	"net"
	"net/netip"
	"testing"

	"github.com/netmodels/netmodels/core/engine/sockaddr"
	"golang.org/x/sys/unix"
)

func TestToSockaddr(t *testing.T) {
	for _, tc := range []struct {
		in     string
		family int
		want   netip.AddrPort
	}{
		{"127.0.0.1:80", unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:80")},
		{"[::1]:8080", unix.AF_INET6, netip.MustParseAddrPort("[::1]:8080")},
		{"[::ffff:127.0.0.1]:443", unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:443")}, // v4-mapped goes out as v4
		{"0.0.0.0:0", unix.AF_INET, netip.MustParseAddrPort("0.0.0.0:0")},
	} {
		for _, resolve := range []func(string) (*net.TCPAddr, error){
			sockaddr.ResolveTCP,
			func(s string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", s) },
		} {
			a, err := resolve(tc.in)
			if err != nil {
				t.Fatalf("%s: %v", tc.in, err)
			}
			sa, family, err := toSockaddr(a)
			if err != nil {
				t.Fatalf("%s: toSockaddr: %v", tc.in, err)
			}
			var got netip.AddrPort
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				got = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
			case *unix.SockaddrInet6:
				got = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
			}
			if family != tc.family || got != tc.want {
				t.Errorf("%s: family %d, %v; want %d, %v", tc.in, family, got, tc.family, tc.want)
			}
		}
	}
}
