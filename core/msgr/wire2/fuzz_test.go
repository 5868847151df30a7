package wire2

import (
	"bytes"
	"testing"
)

// Fuzz targets, one per decoder, seeded from the ceph-mon captures and the
// round-trip table. Each checks: no panic, never more bytes used than
// given, and what decodes re-encodes to bytes that decode to the same
// encoding again (decode∘encode is stable).

// seedPayloads adds the payloads of the captured frames carrying tag and
// the table's valid encoding named name.
func seedPayloads(f *testing.F, tag Tag, name string) {
	for _, b := range captureFrames(f) {
		if fr, _, err := DecodeFrame(b, Limits{}); err == nil && fr.Tag() == tag {
			f.Add(append([]byte(nil), fr.Payload()...))
		}
	}
	for _, c := range payloadCases() {
		if c.name == name {
			f.Add(c.valid)
		}
	}
}

// fuzzPayload runs the shared checks on one table case's decoder.
func fuzzPayload(f *testing.F, tag Tag, name string) {
	seedPayloads(f, tag, name)
	var c payloadCase
	for _, pc := range payloadCases() {
		if pc.name == name {
			c = pc
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := c.dec(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		once := c.reenc(b[:n])
		twice := c.reenc(once)
		if once == nil || !bytes.Equal(once, twice) {
			t.Fatalf("unstable re-encoding:\n%x\n%x\n%x", b[:n], once, twice)
		}
	})
}

func FuzzDecodeBanner(f *testing.F) {
	c := captures(f)
	f.Add(c["01-mon-banner"])
	f.Add([]byte("ceph v027"))
	fuzzPayload(f, 0, "banner")
}

func FuzzDecodePreamble(f *testing.F) {
	for _, b := range captureFrames(f) {
		f.Add(b[:PreambleLen])
	}
	fuzzPayload(f, 0, "preamble")
}

// FuzzDecodeFrame: whole frames (preamble, segments, crcs, epilogue) and,
// for MESSAGE, DecodeMessage. An accepted frame is exactly FrameLen
// bytes, and its segments framed again decode to the same segments.
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range captureFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b, Limits{MaxMessageBytes: 1 << 20})
		if err != nil {
			return
		}
		if uint64(n) != fr.Preamble.FrameLen() || n > len(b) {
			t.Fatalf("n=%d FrameLen=%d len=%d", n, fr.Preamble.FrameLen(), len(b))
		}
		if fr.Tag() == TagMessage {
			if _, err := DecodeMessage(fr); err != nil {
				t.Fatalf("accepted MESSAGE frame: %v", err)
			}
		}
		segs := make([]Segment, fr.Preamble.NumSegments)
		for i := range segs {
			segs[i] = Segment{Data: fr.Segments[i], Align: fr.Preamble.Segments[i].Align}
		}
		again, m, err := DecodeFrame(AppendFrame(nil, fr.Tag(), segs...), Limits{MaxMessageBytes: 1 << 20})
		if err != nil || !sameSegments(again, fr) {
			t.Fatalf("re-framed: %v (n=%d)", err, m)
		}
	})
}

func sameSegments(a, b Frame) bool {
	for i := range a.Segments {
		if !bytes.Equal(a.Segments[i], b.Segments[i]) {
			return false
		}
	}
	return true
}

func FuzzDecodeHello(f *testing.F)         { fuzzPayload(f, TagHello, "hello") }
func FuzzDecodeAuthRequest(f *testing.F)   { fuzzPayload(f, TagAuthRequest, "auth_request") }
func FuzzDecodeAuthBadMethod(f *testing.F) { fuzzPayload(f, TagAuthBadMethod, "auth_bad_method") }
func FuzzDecodeAuthMore(f *testing.F)      { fuzzPayload(f, TagAuthReplyMore, "auth_more") }
func FuzzDecodeAuthDone(f *testing.F)      { fuzzPayload(f, TagAuthDone, "auth_done") }
func FuzzDecodeAuthSignature(f *testing.F) { fuzzPayload(f, TagAuthSignature, "auth_signature") }
func FuzzDecodeClientIdent(f *testing.F)   { fuzzPayload(f, TagClientIdent, "client_ident") }
func FuzzDecodeServerIdent(f *testing.F)   { fuzzPayload(f, TagServerIdent, "server_ident") }
func FuzzDecodeReconnect(f *testing.F)     { fuzzPayload(f, TagSessionReconnect, "reconnect") }
func FuzzDecodeSessionReset(f *testing.F)  { fuzzPayload(f, TagSessionReset, "session_reset") }
func FuzzDecodeU64(f *testing.F)           { fuzzPayload(f, TagAck, "u64") }
func FuzzDecodeKeepalive(f *testing.F)     { fuzzPayload(f, TagKeepalive2Ack, "keepalive") }

func FuzzDecodeMsgHeader2(f *testing.F) {
	for _, b := range captureFrames(f) {
		if fr, _, err := DecodeFrame(b, Limits{}); err == nil && fr.Tag() == TagMessage {
			f.Add(append([]byte(nil), fr.Segments[0]...))
		}
	}
	fuzzPayload(f, 0, "msg_header2")
}

func FuzzDecodeMonAuthRequest(f *testing.F) {
	for _, b := range captureFrames(f) {
		if fr, _, err := DecodeFrame(b, Limits{}); err == nil && fr.Tag() == TagAuthRequest {
			if r, _, err := DecodeAuthRequest(fr.Payload()); err == nil {
				f.Add(append([]byte(nil), r.Payload...))
			}
		}
	}
	fuzzPayload(f, 0, "mon_auth_request")
}
