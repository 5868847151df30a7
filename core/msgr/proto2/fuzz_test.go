package proto2

import (
	"bytes"
	"slices"
	"testing"
)

// Fuzz targets for each role's input, seeded from the ceph-mon captures
// and the in-memory scenarios. The machine is fed the input whole and byte
// by byte: it must never panic or use more than it was given, both feeds
// must end alike (same events, same fault, same frames sent but for how
// many ACKs), what it delivers must be in seq order after one
// EventEstablished, and everything it sends must decode.

func FuzzServerInput(f *testing.F) {
	seedFuzz(f, stream(f, clientFiles), func(cli, _ *side) []byte { return cli.sent })
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRole(t, in, func() *side { return captureServerSide(t) }) })
}

func FuzzClientInput(f *testing.F) {
	seedFuzz(f, stream(f, monFiles), func(_, srv *side) []byte { return srv.sent })
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRole(t, in, func() *side { return captureClientSide(t) }) })
}

// FuzzResumingClientInput: what a server sends a lossless client that
// resumes its session (SESSION_RECONNECT, then RETRY, RETRY_GLOBAL,
// RESET, RECONNECT_OK or WAIT), seeded from scriptedDecision's answers.
func FuzzResumingClientInput(f *testing.F) {
	for _, edit := range resumeSeeds {
		cli, srv, _ := resumePair(f, edit, scriptedDecision)
		run(f, cli, srv, whole)
		f.Add(srv.sent)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzRole(t, in, func() *side {
			c, err := NewClient(resumeClientConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			return newSide(t, c, nil)
		})
	})
}

// FuzzSessionServerInput: what a lossless client sends a server whose
// registry (scriptedDecision) decides its CLIENT_IDENT and
// SESSION_RECONNECTs.
func FuzzSessionServerInput(f *testing.F) {
	for _, edit := range resumeSeeds {
		cli, srv, _ := resumePair(f, edit, scriptedDecision)
		run(f, cli, srv, whole)
		f.Add(cli.sent)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzRole(t, in, func() *side {
			s, err := NewServer(sessionServerConfig(t, scriptedDecision))
			if err != nil {
				t.Fatal(err)
			}
			return newSide(t, s, nil)
		})
	})
}

// resumeSeeds make resumePair's client walk each of scriptedDecision's
// answers.
var resumeSeeds = []func(*ClientConfig){
	func(c *ClientConfig) {},                                                     // RETRY, RETRY_GLOBAL, RECONNECT_OK
	func(c *ClientConfig) { c.ConnectSeq, c.GlobalSeq = 5, 60 },                  // RECONNECT_OK at once
	func(c *ClientConfig) { c.ConnectSeq, c.GlobalSeq, c.InSeq = 5, 60, 30 },     // RESET, CLIENT_IDENT
	func(c *ClientConfig) { c.ConnectSeq, c.GlobalSeq, c.Cookie = 5, 60, 0xbad }, // WAIT
}

// seedFuzz adds the captured stream, its prefixes at frame boundaries
// with junk behind them, and each scenario's stream.
func seedFuzz(f *testing.F, captured []byte, input func(cli, srv *side) []byte) {
	f.Add(captured)
	for cut := len(captured); cut > 0; cut -= 37 {
		f.Add(append(slices.Clone(captured[:cut]), 0xff, 0x00, 0x01))
	}
	for _, sc := range scenarios(f) {
		cli, srv := sc.pair(f)
		run(f, cli, srv, whole)
		f.Add(input(cli, srv))
	}
}

func fuzzRole(t *testing.T, in []byte, fresh func() *side) {
	a := fresh()
	a.feed(in)
	b := fresh()
	for i := range in {
		b.feed(in[i : i+1])
		if b.err != nil {
			break
		}
	}
	if (a.err == nil) != (b.err == nil) || a.err != nil && a.err.Error() != b.err.Error() {
		t.Fatalf("whole: %v\nbyte by byte: %v", a.err, b.err)
	}
	if a.err == nil && !bytes.Equal(a.in, b.in) {
		t.Fatalf("left over: %d bytes whole, %d byte by byte", len(a.in), len(b.in))
	}
	if !sameEvents(a.events, b.events) {
		t.Fatalf("events whole %v, byte by byte %v", kinds(a.events), kinds(b.events))
	}
	outA, _ := withoutAcks(t, a.sent)
	outB, _ := withoutAcks(t, b.sent)
	if !bytes.Equal(outA, outB) {
		t.Fatalf("sent %d bytes whole, %d byte by byte (ACKs aside)", len(outA), len(outB))
	}
	var last uint64
	// A resuming client learns of a SESSION_RESET before its session
	// opens: those events may come first.
	first := 0
	for first < len(a.events) && a.events[first].Kind == EventSessionReset {
		first++
	}
	for i, e := range a.events[first:] {
		switch {
		case e.Kind == EventEstablished && i != 0:
			t.Fatalf("EventEstablished at %d", first+i)
		case e.Kind == EventSessionReset:
			t.Fatalf("EventSessionReset at %d, after the session opened", first+i)
		case e.Kind != EventEstablished && i == 0:
			t.Fatalf("event %d before the session opened", e.Kind)
		case e.Kind == EventMessage:
			if e.Seq <= last {
				t.Fatalf("message seq %d after %d", e.Seq, last)
			}
			last = e.Seq
		}
	}
}
