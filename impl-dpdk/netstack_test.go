package dpdkengine

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// TestFullAddr: loopback and unspecified hosts mean the stack's own
// address (the stack has no loopback); other IPv4 hosts are kept; IPv6 and
// garbage are refused.
func TestFullAddr(t *testing.T) {
	pa, _ := newPipe(4)
	ns, err := NewNetstack(link.New(pa, 1500), netip.MustParsePrefix("192.0.2.2/24"), netip.MustParseAddr("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stack.Close()
	self := tcpip.AddrFrom4([4]byte{192, 0, 2, 2})
	for _, tc := range []struct {
		in   string
		addr tcpip.Address
		port uint16
		ok   bool
	}{
		{"127.0.0.1:0", self, 0, true},
		{"0.0.0.0:7000", self, 7000, true},
		{":7000", self, 7000, true},
		{"192.0.2.1:80", tcpip.AddrFrom4([4]byte{192, 0, 2, 1}), 80, true},
		{"198.51.100.9:1", tcpip.AddrFrom4([4]byte{198, 51, 100, 9}), 1, true},
		{"[::1]:80", tcpip.Address{}, 0, false},
		{"nohost", tcpip.Address{}, 0, false},
		{"192.0.2.1:99999", tcpip.Address{}, 0, false},
	} {
		fa, err := ns.fullAddr(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (fa.Addr != tc.addr || fa.Port != tc.port) {
			t.Errorf("%s: got %s:%d, want %s:%d", tc.in, fa.Addr, fa.Port, tc.addr, tc.port)
		}
	}
}

// TestNetstackIPv6Refused: only IPv4 stacks are built.
func TestNetstackIPv6Refused(t *testing.T) {
	pa, _ := newPipe(4)
	if _, err := NewNetstack(link.New(pa, 1500), netip.MustParsePrefix("2001:db8::2/64"), netip.Addr{}); err == nil {
		t.Fatal("IPv6 address accepted")
	}
}
