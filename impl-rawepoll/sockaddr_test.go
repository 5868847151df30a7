package rawepoll

import (
	"net"
	"testing"
)

func TestSockaddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"[::1]:8080", "[::1]:8080"},
		{"[::ffff:127.0.0.1]:443", "127.0.0.1:443"}, // v4-mapped comes back as v4
		{"0.0.0.0:0", "0.0.0.0:0"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		sa, _, err := toSockaddr(a)
		if err != nil {
			t.Fatalf("%s: toSockaddr: %v", tc.in, err)
		}
		if got := fromSockaddr(sa).String(); got != tc.want {
			t.Errorf("%s: round trip %s, want %s", tc.in, got, tc.want)
		}
	}
}
