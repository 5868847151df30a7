package sockaddr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listen makes a non-blocking listening socket on host with x/sys/unix.
func listen(t *testing.T, family int, sa unix.Sockaddr) int {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		t.Skipf("bind: %v", err) // no IPv6 here
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestAcceptAndNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		family int
		sa     unix.Sockaddr
		dial   string
	}{
		{"ipv4", unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, "tcp4"},
		{"ipv6", unix.AF_INET6, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}, "tcp6"},
		{"v4-mapped", unix.AF_INET6, &unix.SockaddrInet6{}, "tcp4"}, // dual-stack wildcard, IPv4 client
	} {
		t.Run(tc.name, func(t *testing.T) {
			lfd := listen(t, tc.family, tc.sa)
			lap, err := SockName(lfd)
			if err != nil {
				t.Fatal(err)
			}
			host := "127.0.0.1"
			if tc.dial == "tcp6" {
				host = "::1"
			}
			if _, _, err := Accept4(lfd, unix.SOCK_NONBLOCK); err != unix.EAGAIN {
				t.Fatalf("Accept4 with nothing pending: %v, want EAGAIN", err)
			}
			c, err := net.Dial(tc.dial, net.JoinHostPort(host, itoa(lap.Port())))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var nfd int
			var peer netip.AddrPort
			for {
				nfd, peer, err = Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				if err != unix.EAGAIN {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(nfd)
			if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); peer != want {
				t.Errorf("Accept4 peer %v, want %v", peer, want)
			}
			local, err := SockName(nfd)
			if want := c.RemoteAddr().(*net.TCPAddr).AddrPort(); err != nil || local != want {
				t.Errorf("SockName %v (%v), want %v", local, err, want)
			}
			if p, err := PeerName(nfd); err != nil || p != peer {
				t.Errorf("PeerName %v (%v), want %v", p, err, peer)
			}
			if n := testing.AllocsPerRun(50, func() { _, _ = SockName(nfd) }); n != 0 {
				t.Errorf("SockName: %v allocations, want 0", n)
			}
		})
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func TestNameErrors(t *testing.T) {
	if _, err := SockName(-1); err != unix.EBADF {
		t.Errorf("SockName(-1): %v, want EBADF", err)
	}
	if TCPAddr(netip.AddrPort{}) != nil {
		t.Error("TCPAddr of the zero AddrPort is not nil")
	}
}

func TestResolveTCP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "[::ffff:10.0.0.1]:9", "[fe80::1%lo]:1", "localhost:80", ":8080", "127.0.0.1:http"} {
		got, gerr := ResolveTCP(addr)
		want, werr := net.ResolveTCPAddr("tcp", addr)
		if (gerr != nil) != (werr != nil) {
			t.Errorf("%s: error %v, net says %v", addr, gerr, werr)
			continue
		}
		if gerr == nil && !same(got, want) {
			t.Errorf("%s: %v, net says %v", addr, got, want)
		}
	}
}

// same: one address, whether its IPv4 is held in 4 or 16 bytes (net's
// resolver gives 16, netip 4; both dial and print alike).
func same(a, b *net.TCPAddr) bool {
	pa, pb := a.AddrPort(), b.AddrPort()
	return pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port() && a.Zone == b.Zone
}

// FuzzResolveTCP: the literal fast path agrees with net.ResolveTCPAddr
// on every address it takes.
func FuzzResolveTCP(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:0", "[::ffff:1.2.3.4]:65535", "1.2.3.4:99999", "[fe80::1%eth0]:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if _, err := netip.ParseAddrPort(addr); err != nil {
			return // the resolver's business
		}
		got, err := ResolveTCP(addr)
		if err != nil {
			t.Fatalf("%q: %v", addr, err)
		}
		want, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return // net refuses what netip takes (a zone net cannot parse): dial fails either way
		}
		if !same(got, want) {
			t.Fatalf("%q: %v, net says %v", addr, got, want)
		}
	})
}

func TestLocalAddrAndClone(t *testing.T) {
	fd := listen(t, unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	ap, err := SockName(fd)
	if err != nil {
		t.Fatal(err)
	}
	fallback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}
	if got := LocalAddr(fd, fallback).(*net.TCPAddr); got.Port != int(ap.Port()) || got.Port == 0 {
		t.Fatalf("LocalAddr = %v, want the bound port %d", got, ap.Port())
	}
	// No kernel answer: the fallback itself, or a copy sharing no bytes
	// when it has a zone (the bytes gnet recycles).
	if got := LocalAddr(-1, fallback); got != net.Addr(fallback) {
		t.Fatalf("LocalAddr(-1) = %v, want the fallback %v itself", got, fallback)
	}
	zoned := &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 0, Zone: "lo"}
	got := LocalAddr(-1, zoned).(*net.TCPAddr)
	if !same(got, zoned) || &got.IP[0] == &zoned.IP[0] || unsafe.StringData(got.Zone) == unsafe.StringData(zoned.Zone) {
		t.Fatalf("LocalAddr(-1) = %v, want a copy of %v", got, zoned)
	}
	if LocalAddr(-1, nil) != nil {
		t.Fatal("LocalAddr(-1, nil) is not nil")
	}
	unixAddr := &net.UnixAddr{Name: "x", Net: "unix"}
	if CloneAddr(unixAddr) != net.Addr(unixAddr) {
		t.Fatal("CloneAddr changed a non-TCP address")
	}
}

func TestAcceptedLocal(t *testing.T) {
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
	if got := AcceptedLocal(one); got != one {
		t.Errorf("AcceptedLocal(%v) = %v, want the listener's address", one, got)
	}
	for _, a := range []net.Addr{&net.TCPAddr{Port: 80}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, &net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, &net.TCPAddr{IP: net.IPv4zero, Port: 80}, nil} {
		if got := AcceptedLocal(a); got != nil {
			t.Errorf("AcceptedLocal(%v) = %v, want nil (wildcard: ask the kernel)", a, got)
		}
	}
}

func TestToUnix(t *testing.T) {
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
			ResolveTCP,
			func(s string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", s) },
		} {
			a, err := resolve(tc.in)
			if err != nil {
				t.Fatalf("%s: %v", tc.in, err)
			}
			sa, family, err := ToUnix(a)
			if err != nil {
				t.Fatalf("%s: ToUnix: %v", tc.in, err)
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

// DialTCP connects to a literal address and to a name, without
// SO_KEEPALIVE either way, and reports a refused connect as a dial error.
func TestDialTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, addr := range []string{ln.Addr().String(), net.JoinHostPort("localhost", itoa(uint16(port)))} {
		tc, err := DialTCP(context.Background(), addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		rc, _ := tc.SyscallConn()
		var ka int
		var kerr error
		_ = rc.Control(func(fd uintptr) { ka, kerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) })
		if kerr != nil || ka != 0 {
			t.Errorf("%s: SO_KEEPALIVE %d (%v), want 0", addr, ka, kerr)
		}
		if got := tc.RemoteAddr().(*net.TCPAddr).Port; got != port {
			t.Errorf("%s: connected to port %d", addr, got)
		}
		_ = tc.Close()
	}
	ln.Close()
	var oe *net.OpError
	if _, err := DialTCP(context.Background(), ln.Addr().String(), time.Second); !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("dial to a closed port: %v, want a dial *net.OpError", err)
	}
}
