package proto2

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

func control(tag wire2.Tag, p []byte) []byte { return wire2.AppendControl(nil, tag, p) }

func banner(sup, req uint64) []byte {
	return wire2.AppendBanner(nil, wire2.Banner{Supported: sup, Required: req})
}

// preamble is a bare preamble (valid crc) claiming what the caller says.
func preamble(tag wire2.Tag, lens ...uint32) []byte {
	p := wire2.Preamble{Tag: tag, NumSegments: uint8(len(lens))}
	for i, n := range lens {
		p.Segments[i] = wire2.SegmentDesc{Len: n, Align: wire2.AlignDefault}
	}
	return wire2.AppendPreamble(nil, p)
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0x40
	return b
}

func authRequest(method uint32, modes []uint32, payload []byte) []byte {
	return control(wire2.TagAuthRequest, wire2.AppendAuthRequest(nil, wire2.AuthRequest{Method: method, PreferredModes: modes, Payload: payload}))
}

func monAuth() []byte {
	return wire2.AppendMonAuthRequest(nil, wire2.MonAuthRequest{EntityType: wire.EntityClient, ID: "admin"})
}

func clientIdent(t testing.TB, edit func(*wire2.ClientIdent)) []byte {
	ci := mustPayload(t, capture(t, "06-client-client_ident"), wire2.DecodeClientIdent)
	edit(&ci)
	return control(wire2.TagClientIdent, wire2.AppendClientIdent(nil, ci))
}

// reconnect is a lossless client's SESSION_RECONNECT, from the address of
// the captured CLIENT_IDENT.
func reconnect(t testing.TB) []byte {
	ci := mustPayload(t, capture(t, "06-client-client_ident"), wire2.DecodeClientIdent)
	return control(wire2.TagSessionReconnect, wire2.AppendReconnect(nil, wire2.Reconnect{
		Addrs: ci.Addrs, ClientCookie: 7, ServerCookie: 9, GlobalSeq: 3, ConnectSeq: 1, MsgSeq: 5}))
}

func message(seq, ack uint64) []byte {
	m := testMessage(19, 1, "x", "", "")
	m.Header.Seq, m.Header.AckSeq = seq, ack
	return wire2.AppendMessage(nil, m)
}

// aborted is a MESSAGE frame whose sender gave up on it: late status
// ABORTED in its epilogue (not covered by any crc).
func aborted(frame []byte) []byte {
	b := bytes.Clone(frame)
	b[len(b)-wire2.EpilogueLen] = wire2.LateStatusAborted
	return b
}

func errType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// badCase: a valid prefix (the first `valid` captured frames of the peer,
// which bring the machine to a state), then bad bytes. want matches the
// fault (nil: no fault), state is where it must happen, out is a tag the
// machine must have sent in answer (0: none checked).
type badCase struct {
	name  string
	valid int
	bad   []byte
	state State
	want  func(error) bool
	out   wire2.Tag
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func contains(s string) func(error) bool {
	return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
}

// TestServerRefuses: every refusal the acceptor owes a bad peer is a
// fault naming the reason, in the state it happened, never a panic, and
// the refused frame is judged on what arrived: a preamble claiming a huge
// frame is refused from its 32 bytes alone.
func TestServerRefuses(t *testing.T) {
	hello := capture(t, "02-client-hello")
	for _, tc := range []badCase{
		{"not a banner", 0, []byte("GET / HTTP/1.1\r\n\r\n"), StateBannerAccepting, is(wire2.ErrBadBanner), 0},
		{"msgr1 banner", 0, []byte("ceph v027"), StateBannerAccepting, is(wire2.ErrV1Banner), 0},
		{"banner payload too short", 0, append([]byte("ceph v2\n\x08\x00"), make([]byte, 8)...), StateBannerAccepting, errType[*wire2.FrameError], 0},
		{"peer requires compression", 0, banner(3, 2), StateBannerAccepting, errType[*wire2.FeatureError], 0},
		{"peer is msgr2.0", 0, banner(0, 0), StateBannerAccepting, is(ErrRevision0), 0},
		{"bad preamble crc", 1, flip(hello, 28), StateHelloAccepting, errType[*wire2.CRCError], 0},
		{"bad segment crc", 1, flip(hello, -1), StateHelloAccepting, errType[*wire2.CRCError], 0},
		{"unknown tag", 1, preamble(99, 0), StateHelloAccepting, errType[*wire2.FrameError], 0},
		{"control payload over the limit", 1, preamble(wire2.TagHello, 1<<20), StateHelloAccepting, errType[*wire2.FrameError], 0},
		{"truncated HELLO", 1, control(wire2.TagHello, []byte{8}), StateHelloAccepting, contains("truncated HELLO"), 0},
		{"HELLO from an unknown entity", 1, control(wire2.TagHello, wire2.AppendHello(nil, wire2.Hello{EntityType: 0x40})), StateHelloAccepting, is(ErrPeerType), 0},
		{"huge MESSAGE before the session", 2, preamble(wire2.TagMessage, wire2.MsgHeader2Len, 100<<20), StateAuthAccepting, is(ErrUnexpectedFrame), 0},
		{"KEEPALIVE2 before the session", 2, control(wire2.TagKeepalive2, make([]byte, 8)), StateAuthAccepting, is(ErrUnexpectedFrame), 0},
		{"secure mode only", 2, authRequest(wire2.AuthNone, []uint32{wire2.ConModeSecure}, monAuth()), StateAuthAccepting, is(ErrSecureMode), wire2.TagAuthBadMethod},
		{"no mode", 2, authRequest(wire2.AuthNone, nil, monAuth()), StateAuthAccepting, contains("crc (1) only"), wire2.TagAuthBadMethod},
		{"cephx, then retry with none", 2, append(authRequest(wire2.AuthCephx, []uint32{wire2.ConModeCRC}, nil), authRequest(wire2.AuthNone, []uint32{wire2.ConModeCRC}, monAuth())...),
			StateAuthAcceptingSign, nil, wire2.TagAuthBadMethod},
		{"cephx four times", 2, bytes.Repeat(authRequest(wire2.AuthCephx, []uint32{wire2.ConModeCRC}, nil), 4), StateAuthAccepting, is(ErrAuthAttempts), wire2.TagAuthBadMethod},
		{"empty auth payload", 2, authRequest(wire2.AuthNone, []uint32{wire2.ConModeCRC}, nil), StateAuthAccepting, is(ErrBadAuthPayload), 0},
		{"auth payload of an unknown mode", 2, authRequest(wire2.AuthNone, []uint32{wire2.ConModeCRC}, []byte{0x20, 0, 0, 0, 0, 0, 0, 0, 0}), StateAuthAccepting, is(ErrBadAuthPayload), 0},
		{"truncated mon auth payload", 2, authRequest(wire2.AuthNone, []uint32{wire2.ConModeCRC}, monAuth()[:7]), StateAuthAccepting, is(ErrBadAuthPayload), 0},
		{"bad signature", 3, control(wire2.TagAuthSignature, bytes.Repeat([]byte{1}, 32)), StateAuthAcceptingSign, is(ErrBadSignature), 0},
		{"short signature", 3, control(wire2.TagAuthSignature, make([]byte, 16)), StateAuthAcceptingSign, contains("truncated AUTH_SIGNATURE"), 0},
		{"CLIENT_IDENT for another address", 4, clientIdent(t, func(c *wire2.ClientIdent) { c.TargetAddr.Port++ }), StateSessionAccepting, is(ErrTargetAddr), 0},
		{"CLIENT_IDENT without addresses", 4, clientIdent(t, func(c *wire2.ClientIdent) { c.Addrs = nil }), StateSessionAccepting, is(ErrNoPeerAddrs), 0},
		{"client without MSG_ADDR2", 4, clientIdent(t, func(c *wire2.ClientIdent) { c.SupportedFeatures &^= wire2.FeatureMsgAddr2 }),
			StateSessionAccepting, is(ErrMissingFeatures), wire2.TagIdentMissingFeatures},
		{"client requires what we lack", 4, clientIdent(t, func(c *wire2.ClientIdent) { c.RequiredFeatures |= 1 << 63 }), StateSessionAccepting, is(ErrMissingFeatures), 0},
		{"SESSION_RECONNECT for a session we do not have", 4, reconnect(t), StateSessionAccepting, nil, wire2.TagSessionReset},
		{"SESSION_RECONNECT, then CLIENT_IDENT", 4, append(reconnect(t), clientIdent(t, func(*wire2.ClientIdent) {})...), StateReady, nil, wire2.TagSessionReset},
		{"truncated SESSION_RECONNECT", 4, control(wire2.TagSessionReconnect, nil), StateSessionAccepting, contains("truncated SESSION_RECONNECT"), 0},
		{"SESSION_RECONNECT in READY", 5, reconnect(t), StateReady, is(ErrUnexpectedFrame), 0},
		{"WAIT in READY", 5, control(wire2.TagWait, nil), StateReady, is(ErrUnexpectedFrame), 0},
		{"CLIENT_IDENT again in READY", 5, capture(t, "06-client-client_ident"), StateReady, is(ErrUnexpectedFrame), 0},
		{"ACK of a message never sent", 5, control(wire2.TagAck, wire2.AppendU64(nil, 1)), StateReady, is(ErrBadAck), 0},
		{"MESSAGE acking a message never sent", 5, message(1, 3), StateReady, is(ErrBadAck), 0},
		{"MESSAGE over the limit", 5, preamble(wire2.TagMessage, wire2.MsgHeader2Len, 200<<20), StateReady, errType[*wire2.FrameError], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewServer(captureServerConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			testBad(t, c, concat(t, clientFiles[:tc.valid]), tc)
		})
	}
}

// TestDropped: a message already received (seq ≤ in_seq) and an aborted
// frame are dropped without a fault, and reading goes on.
func TestDropped(t *testing.T) {
	msg := capture(t, "10-client-message-mon_get_version")
	for _, tc := range []struct {
		name string
		in   []byte
		seqs []uint64
	}{
		{"duplicate", slices.Concat(msg, msg, message(2, 0)), []uint64{1, 2}},
		{"aborted", slices.Concat(aborted(msg), msg), []uint64{1}},
		{"skip ahead", slices.Concat(message(3, 0), msg), []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := captureServerSide(t)
			s.feed(concat(t, clientFiles[:5]))
			s.events = nil
			s.feed(tc.in)
			var seqs []uint64
			for _, e := range s.events {
				if e.Kind == EventMessage {
					seqs = append(seqs, e.Seq)
				}
			}
			if s.err != nil || len(s.in) != 0 || !slices.Equal(seqs, tc.seqs) {
				t.Fatalf("fault %v, %d bytes left, seqs %v, want %v", s.err, len(s.in), seqs, tc.seqs)
			}
		})
	}
}

// TestClientRefuses is TestServerRefuses for the connector, after the
// first `valid` frames the real mon sent.
func TestClientRefuses(t *testing.T) {
	si := mustPayload(t, capture(t, "07-mon-server_ident"), wire2.DecodeServerIdent)
	for _, tc := range []badCase{
		{"HELLO from an OSD", 1, control(wire2.TagHello, wire2.AppendHello(nil, wire2.Hello{EntityType: wire.EntityOSD})), StateHelloConnecting, is(ErrPeerType), 0},
		{"AUTH_BAD_METHOD", 2, control(wire2.TagAuthBadMethod, wire2.AppendAuthBadMethod(nil, wire2.AuthBadMethod{Method: 1, Result: -13, AllowedMethods: []uint32{2}})),
			StateAuthConnecting, is(ErrAuthRefused), 0},
		{"AUTH_DONE choosing secure mode", 2, control(wire2.TagAuthDone, wire2.AppendAuthDone(nil, wire2.AuthDone{GlobalID: 5, ConMode: wire2.ConModeSecure})), StateAuthConnecting, is(ErrSecureMode), 0},
		{"AUTH_DONE with global_id 0", 2, control(wire2.TagAuthDone, wire2.AppendAuthDone(nil, wire2.AuthDone{ConMode: wire2.ConModeCRC})), StateAuthConnecting, contains("global_id 0"), 0},
		{"AUTH_REPLY_MORE", 2, control(wire2.TagAuthReplyMore, wire2.AppendAuthMore(nil, wire2.AuthMore{})), StateAuthConnecting, is(ErrUnexpectedFrame), 0},
		{"bad signature", 3, control(wire2.TagAuthSignature, bytes.Repeat([]byte{0xff}, 32)), StateAuthConnectingSign, is(ErrBadSignature), 0},
		{"SERVER_IDENT without our target", 4, control(wire2.TagServerIdent, wire2.AppendServerIdent(nil, wire2.ServerIdent{Addrs: si.Addrs[1:], SupportedFeatures: si.SupportedFeatures})),
			StateSessionConnecting, is(ErrTargetAddr), 0},
		{"SERVER_IDENT requiring what we lack", 4, control(wire2.TagServerIdent, wire2.AppendServerIdent(nil, wire2.ServerIdent{Addrs: si.Addrs, RequiredFeatures: 1 << 63})),
			StateSessionConnecting, is(ErrMissingFeatures), 0},
		{"IDENT_MISSING_FEATURES", 4, control(wire2.TagIdentMissingFeatures, wire2.AppendU64(nil, 1<<40)), StateSessionConnecting, is(ErrMissingFeatures), 0},
		{"SESSION_RESET without a SESSION_RECONNECT", 4, control(wire2.TagSessionReset, []byte{1}), StateSessionConnecting, is(ErrUnexpectedFrame), 0},
		{"SESSION_RECONNECT_OK without a SESSION_RECONNECT", 4, control(wire2.TagSessionReconnectOK, wire2.AppendU64(nil, 0)), StateSessionConnecting, is(ErrUnexpectedFrame), 0},
		{"WAIT", 4, control(wire2.TagWait, nil), StateSessionConnecting, is(ErrWait), 0},
		{"MESSAGE before the session", 4, message(1, 0), StateSessionConnecting, is(ErrUnexpectedFrame), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(captureClientConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			testBad(t, c, concat(t, monFiles[:tc.valid]), tc)
		})
	}
}

func testBad(t *testing.T, c *Conn, prefix []byte, tc badCase) {
	t.Helper()
	if n, err := c.Receive(prefix); err != nil || n != len(prefix) {
		t.Fatalf("valid prefix: used %d of %d: %v", n, len(prefix), err)
	}
	c.Events()
	c.Output()
	// The bad bytes go in whole; a peer that trickles them must meet the
	// same answer, which the fuzz targets and the cut tests cover.
	_, err := c.Receive(tc.bad)
	out := c.Output()
	if tc.want == nil {
		if err != nil {
			t.Fatalf("fault %v", err)
		}
		if c.State() != tc.state {
			t.Fatalf("state %s, want %s", c.State(), tc.state)
		}

	} else {
		if err == nil {
			t.Fatalf("no fault (state %s)", c.State())
		}
		t.Logf("fault: %v", err)
		faultIs(t, err, tc.state, nil)
		if !tc.want(err) {
			t.Errorf("fault %v is not the expected one", err)
		}
		if c.State() != StateClosed || c.Err() != err {
			t.Errorf("after the fault: state %s, Err %v", c.State(), c.Err())
		}
		if err := c.SendKeepalive(wire.Timespec{}); err != c.Err() {
			t.Errorf("SendKeepalive after the fault: %v", err)
		}
	}
	if tc.out != 0 {
		_, fs := framesOnly(t, out)
		if !slices.ContainsFunc(fs, func(f wire2.Frame) bool { return f.Tag() == tc.out }) {
			t.Errorf("sent %d frames, none a %s", len(fs), tc.out)
		}
	}
	if !strings.HasPrefix(errString(err), "msgr2 ") {
		t.Errorf("error %q lacks the msgr2 prefix", errString(err))
	}
}

func errString(err error) string {
	if err == nil {
		return "msgr2 "
	}
	return err.Error()
}

// framesOnly decodes frames with no banner in front.
func framesOnly(t testing.TB, b []byte) ([]byte, []wire2.Frame) {
	return frames(t, append(banner(1, 0), b...))
}

// TestSendRules: nothing is sent before the session opens, and a message
// over our own limit is refused without a fault.
func TestSendRules(t *testing.T) {
	c, err := NewClient(captureClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(testMessage(1, 1, "x", "", "")); !errors.Is(err, ErrNotReady) {
		t.Errorf("SendMessage before the session: %v", err)
	}
	if err := c.SendAck(); !errors.Is(err, ErrNotReady) {
		t.Errorf("SendAck before the session: %v", err)
	}
	mon := stream(t, monFiles[:5])
	for used := 0; used < len(mon); {
		n, err := c.Receive(mon[used:])
		if err != nil || n == 0 {
			t.Fatalf("Receive: %d, %v", n, err)
		}
		used += n
	}
	if !c.Established() {
		t.Fatal("not established")
	}
	c.limits.MaxMessageBytes = 10
	if _, err := c.SendMessage(testMessage(1, 1, "0123456789x", "", "")); err == nil || c.Err() != nil {
		t.Errorf("oversized message: %v (fault %v)", err, c.Err())
	}
	if in, out := c.Seqs(); in != 0 || out != 0 {
		t.Errorf("seqs %d %d", in, out)
	}
}

// TestV1PeerDecidedOnItsBanner: an msgr1 client sends its 9-byte banner
// and waits for ours, so a reader that waits for Want bytes must be able
// to refuse it from those 9 alone, however they were cut.
func TestV1PeerDecidedOnItsBanner(t *testing.T) {
	v1 := []byte("ceph v027")
	for cut := 1; cut <= len(v1); cut++ {
		c, err := NewServer(captureServerConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		var in []byte
		for _, part := range [][]byte{v1[:cut], v1[cut:]} {
			in = append(in, part...)
			if len(in) < c.Want() {
				continue // what a reader honouring Want does
			}
			n, err := c.Receive(in)
			in = in[n:]
			if err != nil {
				if !errors.Is(err, wire2.ErrV1Banner) {
					t.Fatalf("cut %d: %v, want ErrV1Banner", cut, err)
				}
				break
			}
		}
		if c.Err() == nil || !errors.Is(c.Err(), wire2.ErrV1Banner) {
			t.Fatalf("cut %d: the 9 bytes of an msgr1 banner did not refuse the peer (Want %d, err %v)", cut, c.Want(), c.Err())
		}
	}
}

// TestKeepaliveFloodBounded: a buffer holding thousands of KEEPALIVE2
// frames is taken in calls that each add a bounded amount of Output and
// Events, every call makes progress, and every keepalive is answered.
func TestKeepaliveFloodBounded(t *testing.T) {
	c, err := NewServer(captureServerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := concat(t, clientFiles[:5])
	for len(prefix) > 0 {
		n, err := c.Receive(prefix)
		if err != nil || n == 0 {
			t.Fatalf("handshake: used %d: %v", n, err)
		}
		prefix = prefix[n:]
	}
	if !c.Established() {
		t.Fatalf("state %s after the handshake", c.State())
	}
	c.Output()
	c.Events()
	const frames = 10000
	ka := control(wire2.TagKeepalive2, make([]byte, 8))
	in := bytes.Repeat(ka, frames)
	acks, events, calls := 0, 0, 0
	for len(in) > 0 {
		n, err := c.Receive(in)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("no progress with %d bytes left (Want %d)", len(in), c.Want())
		}
		in = in[n:]
		calls++
		out, evs := c.Output(), c.Events()
		if len(out) > maxOutputPerReceive+len(ka) || len(evs) > maxEventsPerReceive {
			t.Fatalf("one call added %d bytes of Output and %d Events", len(out), len(evs))
		}
		_, fs := framesOnly(t, out)
		acks += len(fs)
		events += len(evs)
	}
	if acks != frames || events != frames {
		t.Fatalf("%d KEEPALIVE2_ACKs and %d events for %d KEEPALIVE2s", acks, events, frames)
	}
	if calls < frames/maxEventsPerReceive {
		t.Fatalf("%d calls: the per-call bound did not hold", calls)
	}
}
