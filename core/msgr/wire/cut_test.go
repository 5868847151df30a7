package wire

import (
	"net/netip"
	"testing"
)

// decoders under the "every strict prefix → ErrShort" rule (STYLE.md).
func decoders(t testing.TB) []struct {
	name  string
	valid []byte
	dec   func([]byte) (int, error)
} {
	addr := AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:6789"), 5))
	addr6 := AppendAddr(nil, NewEntityAddr(netip.MustParseAddrPort("[::1]:6789"), 5))
	msg := unhex(t, mauthFrameHex)[1:]
	return []struct {
		name  string
		valid []byte
		dec   func([]byte) (int, error)
	}{
		{"banner", []byte(Banner), DecodeBanner},
		{"addr", addr, func(b []byte) (int, error) { _, n, err := DecodeAddr(b); return n, err }},
		{"addr6", addr6, func(b []byte) (int, error) { _, n, err := DecodeAddr(b); return n, err }},
		{"connect", AppendConnect(nil, Connect{Features: FeaturesAll, AuthLen: 18}), func(b []byte) (int, error) { _, n, err := DecodeConnect(b); return n, err }},
		{"reply", AppendConnectReply(nil, ConnectReply{Tag: TagSeq}), func(b []byte) (int, error) { _, n, err := DecodeConnectReply(b); return n, err }},
		{"authnone", AppendAuthNone(nil, AuthNoneAuthorizer{EntityType: 1, ID: "a"}), func(b []byte) (int, error) { _, n, err := DecodeAuthNone(b); return n, err }},
		{"timespec", AppendTimespec(nil, Timespec{1, 2}), func(b []byte) (int, error) { _, n, err := DecodeTimespec(b); return n, err }},
		{"seq", AppendSeq(nil, 99), func(b []byte) (int, error) { _, n, err := DecodeSeq(b); return n, err }},
		{"header", msg[:HeaderLen], func(b []byte) (int, error) { _, n, err := DecodeHeader(b); return n, err }},
		{"footer", AppendFooter(nil, Footer{Flags: 1}, true), func(b []byte) (int, error) { _, n, err := DecodeFooter(b, true); return n, err }},
		{"footer-old", AppendFooter(nil, Footer{Flags: 1}, false), func(b []byte) (int, error) { _, n, err := DecodeFooter(b, false); return n, err }},
		{"message", msg, func(b []byte) (int, error) { _, n, err := DecodeMessage(b, true, CRCAll, 1<<20); return n, err }},
	}
}

func TestCutEveryOffset(t *testing.T) {
	for _, d := range decoders(t) {
		n, err := d.dec(d.valid)
		if err != nil || n != len(d.valid) {
			t.Fatalf("%s: whole input: n=%d err=%v", d.name, n, err)
		}
		for i := range len(d.valid) {
			// Copy so a decoder reading past the cut is caught by the race
			// detector / bounds checks rather than seeing valid bytes.
			cut := append([]byte(nil), d.valid[:i]...)
			if n, err := d.dec(cut); err != ErrShort || n != 0 {
				t.Errorf("%s cut at %d: n=%d err=%v, want ErrShort", d.name, i, n, err)
			}
		}
	}
}
