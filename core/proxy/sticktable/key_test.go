package sticktable

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		len  int
		text string
		want string // dump form; "" = error
	}{
		{TypeIP, 0, "127.0.0.1", "127.0.0.1"},
		{TypeIP, 0, "10.0.0.255", "10.0.0.255"},
		{TypeIP, 0, "::1", ""},
		{TypeIP, 0, "1.2.3", ""},
		{TypeIP, 0, "", ""},
		{TypeIPv6, 0, "::1", "::1"},
		{TypeIPv6, 0, "2001:db8::7", "2001:db8::7"},
		{TypeIPv6, 0, "127.0.0.1", "::ffff:127.0.0.1"},
		{TypeIPv6, 0, "fe80::1%eth0", ""},
		{TypeInteger, 0, "0", "0"},
		{TypeInteger, 0, "4294967295", "4294967295"},
		{TypeInteger, 0, "4294967296", ""},
		{TypeInteger, 0, "-1", ""},
		{TypeInteger, 0, "12a", ""},
		{TypeString, 32, "hello", "hello"},
		{TypeString, 4, "hello", "hell"},
		{TypeString, 32, "a b=c\\d\te", `a\ b\=c\\d\te`},
		{TypeString, 32, "x\x01\x7fy", `x\x01\x7Fy`},
		{TypeString, 32, "cut\x00here", "cut"},
		{TypeString, 0, "x", ""},
		{Type(9), 0, "x", ""},
	} {
		k, err := ParseKey(c.typ, c.len, c.text)
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseKey(%v, %q) = %v, want ErrBadKey", c.typ, c.text, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKey(%v, %q): %v", c.typ, c.text, err)
			continue
		}
		if got := string(appendKey(nil, c.typ, k)); got != c.want {
			t.Errorf("ParseKey(%v, %q) dumps as %q, want %q", c.typ, c.text, got, c.want)
		}
	}
}

func TestKeyAddr(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, c := range []struct {
		typ  Type
		a    netip.Addr
		want string
	}{
		{TypeIP, v4, "192.0.2.1"},
		{TypeIP, mapped, "192.0.2.1"},
		{TypeIP, v6, ""},
		{TypeIPv6, v4, "::ffff:192.0.2.1"},
		{TypeIPv6, v6, "2001:db8::1"},
		{TypeString, v4, "192.0.2.1"},
		{TypeInteger, v4, ""},
		{TypeIP, netip.Addr{}, ""},
	} {
		k, ok := KeyAddr(c.typ, 32, c.a)
		if c.want == "" {
			if ok {
				t.Errorf("KeyAddr(%v, %v) ok, want none", c.typ, c.a)
			}
			continue
		}
		if got := string(appendKey(nil, c.typ, k)); !ok || got != c.want {
			t.Errorf("KeyAddr(%v, %v) = %q %v, want %q", c.typ, c.a, got, ok, c.want)
		}
	}
	// One address gives one key whether it arrives mapped or not.
	a, _ := KeyAddr(TypeIPv6, 0, v4)
	b, _ := KeyAddr(TypeIPv6, 0, mapped)
	if a != b {
		t.Error("ipv6 table: mapped and plain IPv4 give different keys")
	}
	if KeyInt(1<<32+5) != KeyInt(5) {
		t.Error("integer keys keep the low 32 bits")
	}
}

// FuzzParseKey: ParseKey never panics; a key it accepts prints (as "show
// table" does) to text that parses back to the same key for the address
// and integer types, and a string key never exceeds its length.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:10.0.0.1", "4294967295", "0", "abc", "a\x00b", "1.2.3.4.5", "[::1]", "01.2.3.4"} {
		for typ := TypeIP; typ <= TypeString; typ++ {
			f.Add(uint8(typ), uint16(8), s)
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, n uint16, text string) {
		k, err := ParseKey(Type(typ), int(n), text)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			return
		}
		out := string(appendKey(nil, Type(typ), k))
		switch Type(typ) {
		case TypeString:
			if len(k.s) > int(n) || strings.IndexByte(k.s, 0) >= 0 {
				t.Fatalf("string key %q longer than %d or with NUL", k.s, n)
			}
		default:
			k2, err := ParseKey(Type(typ), int(n), out)
			if err != nil || k2 != k {
				t.Fatalf("%q -> %q -> %v %v: not a round trip", text, out, k2, err)
			}
		}
	})
}
