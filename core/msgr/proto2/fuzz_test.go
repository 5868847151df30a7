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
	for i, e := range a.events {
		switch {
		case e.Kind == EventEstablished && i != 0:
			t.Fatalf("EventEstablished at %d", i)
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
