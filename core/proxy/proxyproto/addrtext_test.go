package proxyproto

import (
	"net/netip"
	"strings"
	"testing"
)

// TestParseIPv6MatchesNetip: our allocation-free parser agrees with
// net/netip on valid and invalid text (zones excluded: v1 has none).
func TestParseIPv6MatchesNetip(t *testing.T) {
	for _, s := range []string{
		"::", "::1", "1::", "2001:db8::10", "2001:db8:0:0:0:0:0:20", "::ffff:127.0.0.2",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "FFFF::ABCD",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":::", "1:::2", "1::2::3", "12345::", ":1", "1:",
		"1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "1.2.3.4", "::1.2.3.04",
		"::256.1.1.1", "1:2:3:4:5:1.2.3.4", "g::", "", "::ffff:1.2.3", "1::2:3:4:5:6:7:8",
	} {
		want, werr := netip.ParseAddr(s)
		wantOK := werr == nil && want.Is6() && want.Zone() == ""
		got, ok := parseIPv6([]byte(s))
		if ok != wantOK || (ok && got != want) {
			t.Errorf("parseIPv6(%q) = %v, %v; netip says %v, %v", s, got, ok, want, werr)
		}
		if wantOK && !ipv6Prefix([]byte(s)) {
			t.Errorf("ipv6Prefix(%q) = false for a valid address", s)
		}
		for i := 0; wantOK && i < len(s); i++ {
			if !ipv6Prefix([]byte(s[:i])) {
				t.Errorf("ipv6Prefix(%q) = false for a prefix of %q", s[:i], s)
			}
		}
	}
}

func TestScanIPv4(t *testing.T) {
	tests := []struct {
		s              string
		strict, lenien string // "" = rejected
	}{
		{"192.0.2.10", "192.0.2.10", "192.0.2.10"},
		{"0.0.0.0", "0.0.0.0", "0.0.0.0"},
		{"256.0.2.10", "", "0.0.2.10"},
		{"192.0.2.010", "", "192.0.2.10"},
		{"999.1.1.1", "", "231.1.1.1"},
		{"1.2.3", "", ""},
		{"1.2.3.4.5", "", ""},
		{"1..3.4", "", ""},
		{"1234.1.1.1", "", ""},
		{"1.2.3.", "", ""},
	}
	for _, tc := range tests {
		for _, lenient := range []bool{false, true} {
			want := tc.strict
			if lenient {
				want = tc.lenien
			}
			a, ok := scanIPv4([]byte(tc.s), lenient, false)
			got := ""
			if ok {
				got = netip.AddrFrom4(a).String()
			}
			if got != want {
				t.Errorf("scanIPv4(%q, lenient=%v) = %q, want %q", tc.s, lenient, got, want)
			}
			if !lenient {
				_, err := netip.ParseAddr(tc.s)
				if (err == nil) != ok && !strings.Contains(tc.s, ":") {
					t.Errorf("scanIPv4(%q) strict = %v, netip err %v", tc.s, ok, err)
				}
			}
		}
	}
}

func TestScanPort(t *testing.T) {
	tests := []struct {
		s              string
		strict, lenien int // -1 = rejected
	}{
		{"0", 0, 0}, {"443", 443, 443}, {"65535", 65535, 65535},
		{"65536", -1, 0}, {"099", -1, 99}, {"", -1, -1}, {"123456", -1, -1}, {"1a", -1, -1},
	}
	for _, tc := range tests {
		for _, lenient := range []bool{false, true} {
			want := tc.strict
			if lenient {
				want = tc.lenien
			}
			p, ok := scanPort([]byte(tc.s), lenient, false)
			got := -1
			if ok {
				got = int(p)
			}
			if got != want {
				t.Errorf("scanPort(%q, lenient=%v) = %d, want %d", tc.s, lenient, got, want)
			}
		}
	}
}

func FuzzParseIPv6(f *testing.F) {
	for _, s := range []string{"::", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1::2::3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "%") {
			return
		}
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is6()
		got, ok := parseIPv6([]byte(s))
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parseIPv6(%q) = %v, %v; netip %v, %v", s, got, ok, want, err)
		}
		if ok {
			for i := 0; i <= len(s); i++ {
				if !ipv6Prefix([]byte(s[:i])) {
					t.Fatalf("ipv6Prefix(%q) false for a prefix of valid %q", s[:i], s)
				}
			}
		}
	})
}
