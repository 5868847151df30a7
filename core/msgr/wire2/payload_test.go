package wire2

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// payloadCase is one encoding under the package's decoder contract.
type payloadCase struct {
	name  string
	valid []byte
	dec   func([]byte) (int, error)
	// reenc decodes valid and encodes the value again.
	reenc func([]byte) []byte
}

func caseOf[T any](name string, v T, enc func([]byte, T) []byte, dec func([]byte) (T, int, error)) payloadCase {
	return payloadCase{
		name:  name,
		valid: enc(nil, v),
		dec:   func(b []byte) (int, error) { _, n, err := dec(b); return n, err },
		reenc: func(b []byte) []byte {
			v, _, err := dec(b)
			if err != nil {
				return nil
			}
			return enc(nil, v)
		},
	}
}

func payloadCases() []payloadCase {
	v2 := wire.NewEntityAddr(netip.MustParseAddrPort("127.0.0.1:3300"), 0)
	v2.Type = wire.AddrTypeMsgr2
	v1 := wire.NewEntityAddr(netip.MustParseAddrPort("[::1]:6789"), 0)
	v1.Type = wire.AddrTypeLegacy
	addrs := []wire.EntityAddr{v2, v1}
	return []payloadCase{
		caseOf("banner", Banner{Supported: 1}, AppendBanner, DecodeBanner),
		caseOf("hello", Hello{EntityType: wire.EntityOSD, PeerAddr: v1}, AppendHello, DecodeHello),
		caseOf("auth_request", AuthRequest{Method: AuthCephx, PreferredModes: []uint32{2, 1}, Payload: []byte("ticket")}, AppendAuthRequest, DecodeAuthRequest),
		caseOf("auth_bad_method", AuthBadMethod{Method: 2, Result: -13, AllowedMethods: []uint32{1}, AllowedModes: []uint32{1, 2}}, AppendAuthBadMethod, DecodeAuthBadMethod),
		caseOf("auth_more", AuthMore{Payload: []byte{1, 2, 3}}, AppendAuthMore, DecodeAuthMore),
		caseOf("auth_done", AuthDone{GlobalID: 4097, ConMode: ConModeCRC, Payload: []byte("x")}, AppendAuthDone, DecodeAuthDone),
		caseOf("auth_signature", AuthSignature{Sig: Signature([]byte("k"), []byte("m"))}, AppendAuthSignature, DecodeAuthSignature),
		caseOf("client_ident", ClientIdent{Addrs: addrs, TargetAddr: v2, GlobalID: -1, GlobalSeq: 2, SupportedFeatures: wire.FeaturesAll, RequiredFeatures: FeatureMsgAddr2, Flags: FlagLossy, Cookie: 9}, AppendClientIdent, DecodeClientIdent),
		caseOf("server_ident", ServerIdent{Addrs: addrs, GlobalID: 0, GlobalSeq: 3, SupportedFeatures: wire.FeaturesAll, Cookie: 10}, AppendServerIdent, DecodeServerIdent),
		caseOf("reconnect", Reconnect{Addrs: addrs[:1], ClientCookie: 1, ServerCookie: 2, GlobalSeq: 3, ConnectSeq: 4, MsgSeq: 5}, AppendReconnect, DecodeReconnect),
		caseOf("session_reset", SessionReset{Full: true}, AppendSessionReset, DecodeSessionReset),
		caseOf("u64", uint64(0x0102030405060708), AppendU64, DecodeU64),
		caseOf("keepalive", wire.Timespec{Sec: 1, Nsec: 2}, AppendKeepalive, DecodeKeepalive),
		caseOf("msg_header2", MsgHeader2{Seq: 1, Tid: 2, Type: 3, Priority: 4, Version: 5, DataPrePaddingLen: 6, DataOff: 7, AckSeq: 8, Flags: 9, CompatVersion: 10, Reserved: 11}, AppendMsgHeader2, DecodeMsgHeader2),
		caseOf("mon_auth_request", MonAuthRequest{EntityType: wire.EntityClient, ID: "admin", GlobalID: 4097}, AppendMonAuthRequest, DecodeMonAuthRequest),
		caseOf("preamble", Preamble{Tag: TagAck, NumSegments: 1, Segments: [4]SegmentDesc{{Len: 8, Align: 8}}},
			AppendPreamble, func(b []byte) (Preamble, int, error) { return DecodePreamble(b, Limits{}) }),
	}
}

// TestPayloadRoundTrip: every encoding decodes to what re-encodes to the
// same bytes, using all of them.
func TestPayloadRoundTrip(t *testing.T) {
	for _, c := range payloadCases() {
		n, err := c.dec(c.valid)
		if err != nil || n != len(c.valid) {
			t.Errorf("%s: n=%d/%d err=%v", c.name, n, len(c.valid), err)
		}
		if re := c.reenc(c.valid); !bytes.Equal(re, c.valid) {
			t.Errorf("%s: re-encoded %x, want %x", c.name, re, c.valid)
		}
	}
}

// TestCutEveryOffset: every strict prefix of a valid encoding asks for
// more bytes (ErrShort, nothing used) instead of failing or panicking:
// the payloads above and every captured frame.
func TestCutEveryOffset(t *testing.T) {
	cases := payloadCases()
	for name, b := range captures(t) {
		dec := func(b []byte) (int, error) { _, n, err := DecodeFrame(b, Limits{}); return n, err }
		if bytes.HasPrefix(b, []byte(BannerPrefix)) {
			dec = func(b []byte) (int, error) { _, n, err := DecodeBanner(b); return n, err }
		}
		cases = append(cases, payloadCase{name: name, valid: b, dec: dec})
	}
	for _, c := range cases {
		for i := range len(c.valid) {
			// A copy, so a decoder reading past the cut trips the bounds
			// checks instead of seeing the rest.
			cut := append([]byte(nil), c.valid[:i]...)
			if n, err := c.dec(cut); err != ErrShort || n != 0 {
				t.Errorf("%s cut at %d: n=%d err=%v, want ErrShort", c.name, i, n, err)
			}
		}
	}
}

// TestClaimedCountsAllocateNothing: a vector or blob claiming more than the
// payload holds is short, not allocated.
func TestClaimedCountsAllocateNothing(t *testing.T) {
	huge := []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f} // method 1, 2^31-1 modes
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeAuthRequest(huge); err != ErrShort {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for a claimed vector", allocs)
	}
	if _, _, err := DecodeAuthMore([]byte{0xff, 0xff, 0xff, 0xff, 1}); err != ErrShort {
		t.Errorf("claimed blob: %v", err)
	}
	var fe *FrameError
	if _, _, err := DecodeMonAuthRequest([]byte{1}); !errors.As(err, &fe) {
		t.Errorf("auth mode 1: %v", err)
	}
}

// TestAppendMessageLayout: AppendMessage writes exactly AppendFrame's
// layout of the header and the three sections (trailing empty ones
// dropped), and frames into a buffer with room without allocating.
func TestAppendMessageLayout(t *testing.T) {
	h := MsgHeader2{Seq: 3, Tid: 9, Type: 0x7e01, Priority: 127, Version: 2, DataOff: 4, AckSeq: 2, Flags: 1, CompatVersion: 1}
	x := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, m := range []Message{
		{Header: h},
		{Header: h, Front: x(5)},
		{Header: h, Middle: x(3)},
		{Header: h, Data: x(5000)},
		{Header: h, Front: x(1), Data: x(2)},
		{Header: h, Front: x(1), Middle: x(2), Data: x(3)},
	} {
		hdr := AppendMsgHeader2(nil, m.Header)
		want := AppendFrame([]byte("prefix"), TagMessage,
			Segment{Data: hdr, Align: AlignDefault}, Segment{Data: m.Front, Align: AlignDefault},
			Segment{Data: m.Middle, Align: AlignDefault}, Segment{Data: m.Data, Align: AlignPage})
		if got := AppendMessage([]byte("prefix"), m); !bytes.Equal(got, want) {
			t.Fatalf("sections %d/%d/%d: AppendMessage differs from AppendFrame", len(m.Front), len(m.Middle), len(m.Data))
		}
		buf := make([]byte, 0, len(want))
		if n := testing.AllocsPerRun(10, func() { buf = AppendMessage(buf[:0], m) }); n != 0 {
			t.Fatalf("%v allocations framing into a buffer with room", n)
		}
	}
}
