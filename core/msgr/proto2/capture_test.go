package proto2

import (
	"bytes"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// captureStep: feed one captured frame, expect these frames out (captured
// names, concatenated) and these events.
type captureStep struct {
	feed   string
	out    []string
	events []EventKind
}

func concat(t testing.TB, names []string) []byte {
	var b []byte
	for _, n := range names {
		b = append(b, capture(t, n)...)
	}
	return b
}

func runCaptureSteps(t *testing.T, c *Conn, first string, steps []captureStep, after func(Event)) {
	t.Helper()
	if out := c.Output(); !bytes.Equal(out, capture(t, first)) {
		t.Fatalf("first output %x, want %s", out, first)
	}
	for _, st := range steps {
		in := capture(t, st.feed)
		n, err := c.Receive(in)
		if err != nil || n != len(in) {
			t.Fatalf("%s: used %d of %d: %v", st.feed, n, len(in), err)
		}
		evs := c.Events()
		var ks []EventKind
		for _, e := range evs {
			ks = append(ks, e.Kind)
		}
		if !equalKinds(ks, st.events) {
			t.Fatalf("%s: events %v, want %v", st.feed, ks, st.events)
		}
		for _, e := range evs {
			after(e)
		}
		if out, want := c.Output(), concat(t, st.out); !bytes.Equal(out, want) {
			t.Fatalf("%s: sent\n%x\nwant %v\n%x", st.feed, out, st.out, want)
		}
	}
}

func equalKinds(a, b []EventKind) bool { return bytes.Equal(kindBytes(a), kindBytes(b)) }

func kindBytes(k []EventKind) []byte {
	b := make([]byte, len(k))
	for i, x := range k {
		b[i] = byte(x)
	}
	return b
}

// TestCaptureClient feeds our client, configured as the live capture's,
// what the real ceph-mon 16.2.15 sent, frame by frame: every frame it
// sends equals, byte for byte, the one the mon accepted (banner, HELLO,
// AUTH_REQUEST, AUTH_SIGNATURE, CLIENT_IDENT, KEEPALIVE2, MESSAGE), and it
// opens the session with what SERVER_IDENT says.
func TestCaptureClient(t *testing.T) {
	c, err := NewClient(captureClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var sentAfter []byte
	runCaptureSteps(t, c, "01-client-banner", []captureStep{
		{feed: "01-mon-banner", out: []string{"02-client-hello"}},
		{feed: "02-mon-hello", out: []string{"03-client-auth_request"}},
		{feed: "04-mon-auth_done", out: []string{"05-client-auth_signature"}},
		{feed: "05-mon-auth_signature", out: []string{"06-client-client_ident"}},
		{feed: "07-mon-server_ident", events: []EventKind{EventEstablished}},
		{feed: "09-mon-keepalive2_ack", events: []EventKind{EventKeepaliveAck}},
		// Lossy: the reply's ack_seq acks our message, and we write no ACK.
		{feed: "11-mon-message-mon_get_version_reply", events: []EventKind{EventMessage, EventAck}},
	}, func(e Event) {
		switch e.Kind {
		case EventEstablished:
			p := e.Peer
			if p.GlobalID != 4097 || p.Name != (wire.EntityName{Type: wire.EntityMon, Num: 0}) || !p.Lossy ||
				p.Features != wire.FeaturesAll || len(p.Addrs) != 2 || p.AddrForMe.IP.String() != "127.0.0.1" {
				t.Errorf("peer %+v", p)
			}
			if err := c.SendKeepalive(captureStamp); err != nil {
				t.Fatal(err)
			}
			sentAfter = append(sentAfter, c.Output()...)
			if seq, err := c.SendMessage(captureMessage(t)); err != nil || seq != 1 {
				t.Fatalf("SendMessage: %d, %v", seq, err)
			}
			sentAfter = append(sentAfter, c.Output()...)
		case EventKeepaliveAck:
			if e.Stamp != captureStamp {
				t.Errorf("KEEPALIVE2_ACK %v", e.Stamp)
			}
		case EventMessage:
			if e.Seq != 1 || e.Message.Header.Type != 20 || e.Message.Header.Tid != 42 || len(e.Message.Front) != 24 {
				t.Errorf("reply %+v", e.Message.Header)
			}
		case EventAck:
			if e.Seq != 1 {
				t.Errorf("ack %d", e.Seq)
			}
		}
	})
	if want := concat(t, []string{"08-client-keepalive2", "10-client-message-mon_get_version"}); !bytes.Equal(sentAfter, want) {
		t.Errorf("keepalive and message\n%x\nwant\n%x", sentAfter, want)
	}
}

// TestCaptureServer feeds our server, configured with what the mon said of
// itself, the client frames the mon accepted: it answers with the mon's
// own bytes (banner, HELLO, AUTH_DONE, AUTH_SIGNATURE, SERVER_IDENT,
// KEEPALIVE2_ACK) and takes the MESSAGE.
func TestCaptureServer(t *testing.T) {
	c, err := NewServer(captureServerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	runCaptureSteps(t, c, "01-mon-banner", []captureStep{
		{feed: "01-client-banner", out: []string{"02-mon-hello"}},
		{feed: "02-client-hello"},
		{feed: "03-client-auth_request", out: []string{"04-mon-auth_done", "05-mon-auth_signature"}},
		{feed: "05-client-auth_signature"},
		{feed: "06-client-client_ident", out: []string{"07-mon-server_ident"}, events: []EventKind{EventEstablished}},
		{feed: "08-client-keepalive2", out: []string{"09-mon-keepalive2_ack"}, events: []EventKind{EventKeepalive}},
		{feed: "10-client-message-mon_get_version", events: []EventKind{EventMessage}},
	}, func(e Event) {
		switch e.Kind {
		case EventEstablished:
			p := e.Peer
			if p.GlobalID != 4097 || p.AuthID != "admin" || p.Name != (wire.EntityName{Type: wire.EntityClient, Num: 4097}) ||
				!p.Lossy || p.Cookie != 0 || len(p.Addrs) != 1 || p.Addrs[0].TypedString() != "127.0.0.1:0/4660" {
				t.Errorf("peer %+v", p)
			}
		case EventMessage:
			if m := captureMessage(t); e.Seq != 1 || e.Message.Header != m.Header || !bytes.Equal(e.Message.Front, m.Front) {
				t.Errorf("message %+v", e.Message.Header)
			}
		}
	})
}

// TestCaptureStreams feeds each role the whole captured stream of its
// peer at once, cut at every offset and byte by byte: the client sends
// exactly the captured client bytes (sending its keepalive and message
// when the session opens, as the live test did), the server exactly the
// mon's up to its reply, which is the mon's application.
func TestCaptureStreams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		want  []byte
		fresh func() *side
	}{
		{"client", stream(t, monFiles), stream(t, clientFiles), func() *side { return captureClientSide(t) }},
		{"server", stream(t, clientFiles), stream(t, monFiles[:len(monFiles)-1]), func() *side { return captureServerSide(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, s *side) {
				t.Helper()
				if s.err != nil || len(s.in) != 0 || !bytes.Equal(s.sent, tc.want) {
					t.Fatalf("%s: err %v, %d bytes left, sent equal %v", how, s.err, len(s.in), bytes.Equal(s.sent, tc.want))
				}
			}
			for k := 0; k <= len(tc.in); k++ {
				s := tc.fresh()
				s.feed(tc.in[:k])
				s.feed(tc.in[k:])
				check("cut", s)
			}
			s := tc.fresh()
			for _, b := range byteByByte(tc.in) {
				s.feed(b)
			}
			check("byte by byte", s)
		})
	}
}
