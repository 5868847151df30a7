package wire2

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// reseal recomputes a preamble's crc after a test edited it, so the check
// under test is reached.
func reseal(b []byte) []byte {
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(b[preambleCRCOff:], wire.CRC32C(0, b[:preambleCRCOff]))
	return b
}

func TestPreambleRefusals(t *testing.T) {
	ctl := AppendControl(nil, TagAck, AppendU64(nil, 7))
	msg := AppendMessage(nil, Message{Header: MsgHeader2{Seq: 1}, Front: []byte("front"), Data: []byte("data")})
	edit := func(b []byte, f func([]byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return reseal(b)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		l    Limits
		want string
	}{
		{"31 bytes", ctl[: PreambleLen-1 : PreambleLen-1], Limits{}, ""}, // ErrShort
		{"unknown tag", edit(ctl, func(b []byte) { b[0] = 21 }), Limits{}, "unknown tag 21"},
		{"tag 0", edit(ctl, func(b []byte) { b[0] = 0 }), Limits{}, "unknown tag 0"},
		{"no segments", edit(ctl, func(b []byte) { b[1] = 0 }), Limits{}, "0 segments"},
		{"five segments", edit(ctl, func(b []byte) { b[1] = 5 }), Limits{}, "5 segments"},
		{"last segment empty", edit(msg, func(b []byte) { b[1] = 3 }), Limits{}, "last of 3 segments is empty"},
		{"length past num_segments", edit(ctl, func(b []byte) { b[8] = 1 }), Limits{}, "segment 1 of 1 has length 1"},
		{"compressed", edit(ctl, func(b []byte) { b[26] = FlagCompressed }), Limits{}, "compression was not negotiated"},
		{"control with two segments", edit(msg, func(b []byte) { b[0] = byte(TagAck) }), Limits{}, "control frame with 4 segments"},
		{"control over the limit", AppendControl(nil, TagAuthDone, make([]byte, 100))[:PreambleLen], Limits{MaxControlPayload: 99}, "control payload of 100 bytes, limit 99"},
		{"control over the default", edit(ctl, func(b []byte) { binary.LittleEndian.PutUint32(b[2:], DefaultMaxControlPayload+1) })[:PreambleLen], Limits{}, "limit 65536"},
		{"message header length", edit(msg, func(b []byte) { b[2] = 40 }), Limits{}, "header segment of 40 bytes"},
		{"message over the limit", msg[:PreambleLen], Limits{MaxMessageBytes: 8}, "message of 9 bytes, limit 8"},
		{"message of 4 GiB claimed", edit(msg, func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 0xffffffff) })[:PreambleLen], Limits{}, "limit 134217728"},
	} {
		_, _, err := DecodeFrame(tc.in, tc.l)
		if tc.want == "" {
			if err != ErrShort {
				t.Errorf("%s: %v, want ErrShort", tc.name, err)
			}
			continue
		}
		var fe *FrameError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a FrameError with %q", tc.name, err, tc.want)
		}
	}
	// A corrupt preamble is refused on its crc before anything it claims.
	bad := append([]byte(nil), ctl...)
	bad[2] = 0xff
	var ce *CRCError
	if _, _, err := DecodeFrame(bad, Limits{}); !errors.As(err, &ce) || ce.What != "preamble" {
		t.Errorf("corrupt preamble: %v", err)
	}
}

func TestFrameCRCAndLateStatus(t *testing.T) {
	msg := AppendMessage(nil, Message{Header: MsgHeader2{Seq: 1}, Front: []byte("front"), Middle: []byte("m"), Data: []byte("data")})
	end := len(msg) - EpilogueLen
	for _, tc := range []struct {
		name string
		off  int
		what string
	}{
		{"header", PreambleLen + 3, "segment 0"},
		{"header crc", PreambleLen + MsgHeader2Len, "segment 0"},
		{"front", PreambleLen + MsgHeader2Len + crcLen, "segment 1"},
		{"data", end - 1, "segment 3"},
		{"data crc", len(msg) - 1, "segment 3"},
	} {
		b := append([]byte(nil), msg...)
		b[tc.off] ^= 0x40
		var ce *CRCError
		if _, _, err := DecodeFrame(b, Limits{}); !errors.As(err, &ce) || ce.What != tc.what {
			t.Errorf("%s flipped: %v, want a %s crc error", tc.name, err, tc.what)
		}
	}
	b := append([]byte(nil), msg...)
	b[end] = LateStatusAborted | 0xe0 // the reserved nibble is ignored
	if f, n, err := DecodeFrame(b, Limits{}); err != nil || !f.Aborted || n != len(b) {
		t.Errorf("aborted: %+v n=%d err=%v", f, n, err)
	}
	b[end] = 0x3
	var fe *FrameError
	if _, _, err := DecodeFrame(b, Limits{}); !errors.As(err, &fe) || !strings.Contains(err.Error(), "late status 0x03") {
		t.Errorf("bad late status: %v", err)
	}
}

// TestFrameLayout: the rev1 crc-mode shapes (frames_v2.cc asm_crc_rev1).
func TestFrameLayout(t *testing.T) {
	// An empty control payload is the bare preamble: no crc, no epilogue.
	if w := AppendControl(nil, TagWait, nil); len(w) != PreambleLen {
		t.Errorf("WAIT is %d bytes", len(w))
	}
	// A one-segment frame ends with segment 0's crc.
	ack := AppendControl(nil, TagAck, AppendU64(nil, 9))
	if len(ack) != PreambleLen+8+crcLen || binary.LittleEndian.Uint32(ack[PreambleLen+8:]) != SegmentCRC(AppendU64(nil, 9)) {
		t.Errorf("ACK %x", ack)
	}
	// Trailing empty sections are not counted; a middle empty one is, with
	// crc 0xffffffff (ceph_crc32c(-1) of nothing), unused slots are zero.
	m := AppendMessage(nil, Message{Header: MsgHeader2{Seq: 2}, Front: []byte("f"), Data: []byte("d")})
	p, _, err := DecodePreamble(m, Limits{})
	if err != nil || p.NumSegments != 4 || p.Segments[2].Len != 0 || p.Segments[3].Align != AlignPage || uint64(len(m)) != p.FrameLen() {
		t.Fatalf("preamble %+v len %d: %v", p, len(m), err)
	}
	ep := m[len(m)-EpilogueLen:]
	if ep[0] != LateStatusComplete || binary.LittleEndian.Uint32(ep[5:]) != 0xffffffff {
		t.Errorf("epilogue %x", ep)
	}
	f := AppendMessage(nil, Message{Header: MsgHeader2{Seq: 3}, Front: []byte("f")})
	if ep := f[len(f)-EpilogueLen:]; !bytes.Equal(ep[5:], make([]byte, 8)) {
		t.Errorf("unused epilogue crcs %x", ep)
	}
	if SegmentCRC(nil) != 0xffffffff {
		t.Error("crc of nothing")
	}
}

// TestSignature: HMAC-SHA256 with a session key (RFC 4231 test case 2),
// 32 zero bytes without one, as Ceph.
func TestSignature(t *testing.T) {
	got := Signature([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if hex.EncodeToString(got[:]) != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("HMAC %x", got)
	}
	m := hmac.New(sha256.New, []byte{1})
	m.Write([]byte("banner+frames"))
	if got := Signature([]byte{1}, []byte("banner+frames")); !hmac.Equal(got[:], m.Sum(nil)) {
		t.Errorf("HMAC %x", got)
	}
	if Signature(nil, []byte("x")) != [SignatureLen]byte{} || Signature([]byte{}, nil) != [SignatureLen]byte{} {
		t.Error("no key: want zeros")
	}
}
