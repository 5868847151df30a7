package proto2

import (
	"bytes"
	"errors"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// readyClient is the capture's client after the mon's first five frames:
// its session is open.
func readyClient(t *testing.T) *Conn {
	t.Helper()
	c, err := NewClient(captureClientConfig(t))
	if err != nil {
		t.Fatal(err)
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
	c.Output()
	c.Events()
	return c
}

// TestPeek: the preamble alone says what a frame is and how long, checked
// as Receive checks it, and nothing is consumed; a refusal is Receive's
// fault; before the banner there is nothing to peek at.
func TestPeek(t *testing.T) {
	reply := capture(t, "11-mon-message-mon_get_version_reply")
	ack := capture(t, "09-mon-keepalive2_ack")

	c, err := NewClient(captureClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Peek(reply); !errors.Is(err, ErrNoFrame) || c.Err() != nil {
		t.Fatalf("Peek before the banner: %v (fault %v)", err, c.Err())
	}

	c = readyClient(t)
	// The capture's client sent its MMonGetVersion (seq 1) before the
	// reply acks it: send one so the reply's ack_seq is ours.
	if _, err := c.SendMessage(captureMessage(t)); err != nil {
		t.Fatal(err)
	}
	c.Output()
	if _, err := c.Peek(reply[:wire2.PreambleLen-1]); err != wire2.ErrShort || c.Err() != nil {
		t.Fatalf("Peek of 31 bytes: %v (fault %v)", err, c.Err())
	}
	for _, tc := range []struct {
		frame []byte
		want  Next
	}{
		{reply, Next{Tag: wire2.TagMessage, FrameLen: uint64(len(reply)), MessageBytes: 24}},
		{ack, Next{Tag: wire2.TagKeepalive2Ack, FrameLen: uint64(len(ack))}},
	} {
		nx, err := c.Peek(tc.frame[:wire2.PreambleLen])
		if err != nil || nx != tc.want {
			t.Fatalf("Peek: %+v, %v; want %+v", nx, err, tc.want)
		}
		// Nothing was consumed: the frame is still Receive's.
		if n, err := c.Receive(tc.frame); err != nil || n != len(tc.frame) {
			t.Fatalf("Receive after Peek: %d of %d, %v", n, len(tc.frame), err)
		}
	}
	if ev := c.Events(); len(ev) != 3 || ev[0].Kind != EventMessage || ev[1].Kind != EventAck || ev[2].Kind != EventKeepaliveAck {
		t.Fatalf("events %v", kinds(ev))
	}

	for _, tc := range []struct {
		name string
		pre  []byte
		want func(error) bool
	}{
		{"bad preamble crc", flip(reply[:wire2.PreambleLen], 28), errType[*wire2.CRCError]},
		{"MESSAGE over the limit", preamble(wire2.TagMessage, wire2.MsgHeader2Len, 200<<20), errType[*wire2.FrameError]},
		{"CLIENT_IDENT in READY", preamble(wire2.TagClientIdent, 100), is(ErrUnexpectedFrame)},
		{"SESSION_RESET in READY", preamble(wire2.TagSessionReset, 1), is(ErrUnexpectedFrame)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := readyClient(t)
			_, err := c.Peek(tc.pre)
			faultIs(t, err, StateReady, nil)
			if !tc.want(err) {
				t.Errorf("fault %v is not the expected one", err)
			}
			if c.State() != StateClosed || c.Err() != err {
				t.Errorf("after the fault: state %s, Err %v", c.State(), c.Err())
			}
			if n, err2 := c.Receive(reply); n != 0 || err2 != err {
				t.Errorf("Receive after the fault: %d, %v", n, err2)
			}
		})
	}
}

// TestAppendMessage: AppendMessage writes the frame SendMessage would put
// in Output, behind what the caller's buffer holds, with the same seq and
// ack_seq; refused, it leaves the buffer as it was.
func TestAppendMessage(t *testing.T) {
	a, b := readyClient(t), readyClient(t)
	m := testMessage(0x7e01, 9, "front", "middle", "data")
	seqA, err := a.SendMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(a.Output())
	prefix := []byte("prefix")
	got, seqB, err := b.AppendMessage(prefix, m)
	if err != nil || seqB != seqA || !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("AppendMessage: seq %d (want %d), %v, frame equal %v", seqB, seqA, err, bytes.Equal(got[len(prefix):], want))
	}
	if len(b.Output()) != 0 {
		t.Fatal("AppendMessage wrote to Output")
	}
	b.limits.MaxMessageBytes = 3
	if got, _, err := b.AppendMessage(prefix, m); err == nil || !bytes.Equal(got, prefix) || b.Err() != nil {
		t.Fatalf("oversized: %q, %v (fault %v)", got, err, b.Err())
	}
	if _, out := b.Seqs(); out != 1 {
		t.Fatalf("out_seq %d after a refused message", out)
	}
	c, _ := NewClient(captureClientConfig(t))
	if got, _, err := c.AppendMessage(prefix, m); !errors.Is(err, ErrNotReady) || !bytes.Equal(got, prefix) {
		t.Fatalf("before the session: %q, %v", got, err)
	}
}

// TestAcceptPeer: a server's AcceptPeer refusal is a fault at HELLO, in
// HELLO_ACCEPTING, before anything about the session (AUTH_DONE,
// SERVER_IDENT) is sent; accepted, the handshake goes on.
func TestAcceptPeer(t *testing.T) {
	refused := errors.New("no clients here")
	var asked []wire.EntityType
	cfg := captureServerConfig(t)
	cfg.AcceptPeer = func(p wire.EntityType) error {
		asked = append(asked, p)
		return refused
	}
	c, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := concat(t, clientFiles[:3])
	_, err = c.Receive(in)
	faultIs(t, err, StateHelloAccepting, refused)
	if len(asked) != 1 || asked[0] != wire.EntityClient {
		t.Fatalf("asked %v", asked)
	}
	_, fs := frames(t, c.Output())
	if len(fs) != 1 || fs[0].Tag() != wire2.TagHello {
		t.Fatalf("sent %d frames before the refusal", len(fs))
	}

	cfg.AcceptPeer = func(wire.EntityType) error { return nil }
	if c, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Receive(in); err != nil || n != len(in) || c.State() != StateAuthAcceptingSign {
		t.Fatalf("accepted: %d of %d, %v, state %s", n, len(in), err, c.State())
	}
}
