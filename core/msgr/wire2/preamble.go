package wire2

import (
	"encoding/binary"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// PreambleLen is the size of preamble_block_t.
const PreambleLen = 32

// preambleCRCOff is where the preamble's crc sits; it covers bytes 0..27.
const preambleCRCOff = 28

// MaxSegments is the number of segments a frame may have.
const MaxSegments = 4

// Segment alignments Ceph announces (segment_t): a receiver may allocate
// the segment's buffer so aligned. They are hints; decoding ignores them.
const (
	AlignDefault uint16 = 8    // sizeof(void *) on 64-bit hosts
	AlignPage    uint16 = 4096 // a MESSAGE frame's data segment
)

// FlagCompressed (preamble flags, FRAME_EARLY_DATA_COMPRESSED) marks a
// compressed frame. Pacific has no compression and leaves the byte zero;
// this package does not negotiate compression, so such a frame is refused.
const FlagCompressed uint8 = 1 << 0

// SegmentDesc is one of the preamble's four {le32 length, le16 alignment}.
type SegmentDesc struct {
	Len   uint32
	Align uint16
}

// Preamble is preamble_block_t: tag, segment count, four segment
// descriptors, flags and a reserved byte, then the crc.
type Preamble struct {
	Tag         Tag
	NumSegments uint8
	Segments    [MaxSegments]SegmentDesc
	Flags       uint8
	Reserved    uint8
}

// Limits bound what a peer may claim in a preamble, checked before a reader
// waits for (and buffers) the frame. The zero value means the defaults.
type Limits struct {
	// MaxControlPayload bounds a control frame's single segment; default
	// DefaultMaxControlPayload.
	MaxControlPayload uint32
	// MaxMessageBytes bounds a MESSAGE frame's front + middle + data;
	// default DefaultMaxMessageBytes.
	MaxMessageBytes uint64
}

// DefaultMaxControlPayload is 64 KiB: control payloads are a few hundred
// bytes (an identity, addresses, a cephx ticket of a few KiB at most).
const DefaultMaxControlPayload = 64 << 10

// DefaultMaxMessageBytes is msgr1's default MaxMessageBytes (128 MiB) so
// the two protocols admit the same messages.
const DefaultMaxMessageBytes = 128 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxControlPayload == 0 {
		l.MaxControlPayload = DefaultMaxControlPayload
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return l
}

// AppendPreamble appends p and its crc32c (seed 0, over the first 28
// bytes, as frames_v2.cc fill_preamble).
func AppendPreamble(b []byte, p Preamble) []byte {
	start := len(b)
	b = append(b, byte(p.Tag), p.NumSegments)
	for _, s := range p.Segments {
		b = binary.LittleEndian.AppendUint32(b, s.Len)
		b = binary.LittleEndian.AppendUint16(b, s.Align)
	}
	b = append(b, p.Flags, p.Reserved)
	return binary.LittleEndian.AppendUint32(b, wire.CRC32C(0, b[start:]))
}

// DecodePreamble decodes and checks a preamble: its crc first (nothing a
// corrupt preamble claims is believed), then what Ceph's
// disassemble_preamble checks (1..4 segments, the last one not empty) and
// what this package refuses beyond it: an unknown tag, compression, a
// control frame with more than one segment or a payload over
// l.MaxControlPayload, a MESSAGE whose header segment is not
// MsgHeader2Len bytes or whose body exceeds l.MaxMessageBytes. So a reader
// knows, from 32 bytes, whether the frame may be buffered
// (Preamble.FrameLen).
func DecodePreamble(b []byte, l Limits) (Preamble, int, error) {
	if len(b) < PreambleLen {
		return Preamble{}, 0, ErrShort
	}
	if got, want := binary.LittleEndian.Uint32(b[preambleCRCOff:]), wire.CRC32C(0, b[:preambleCRCOff]); got != want {
		return Preamble{}, 0, &CRCError{What: "preamble", Got: got, Want: want}
	}
	p := Preamble{Tag: Tag(b[0]), NumSegments: b[1], Flags: b[26], Reserved: b[27]}
	for i := range p.Segments {
		p.Segments[i] = SegmentDesc{
			Len:   binary.LittleEndian.Uint32(b[2+6*i:]),
			Align: binary.LittleEndian.Uint16(b[6+6*i:]),
		}
	}
	if err := p.check(l.withDefaults()); err != nil {
		return Preamble{}, 0, err
	}
	return p, PreambleLen, nil
}

func (p Preamble) check(l Limits) error {
	if !p.Tag.Known() {
		return frameErr(0, 0, "unknown tag %d", uint8(p.Tag))
	}
	if p.NumSegments < 1 || p.NumSegments > MaxSegments {
		return frameErr(p.Tag, 1, "%d segments, want 1..%d", p.NumSegments, MaxSegments)
	}
	if p.NumSegments > 1 && p.Segments[p.NumSegments-1].Len == 0 {
		return frameErr(p.Tag, 1, "last of %d segments is empty", p.NumSegments)
	}
	for i := int(p.NumSegments); i < MaxSegments; i++ {
		// Ceph ignores descriptors past num_segments; a length there would
		// make our FrameLen and Ceph's disagree, so it must be zero.
		if p.Segments[i].Len != 0 {
			return frameErr(p.Tag, 2+6*i, "segment %d of %d has length %d", i, p.NumSegments, p.Segments[i].Len)
		}
	}
	if p.Flags&FlagCompressed != 0 {
		return frameErr(p.Tag, 26, "compressed frame, but compression was not negotiated")
	}
	if p.Tag != TagMessage {
		if p.NumSegments != 1 {
			return frameErr(p.Tag, 1, "control frame with %d segments, want 1", p.NumSegments)
		}
		if n := p.Segments[0].Len; n > l.MaxControlPayload {
			return frameErr(p.Tag, 2, "control payload of %d bytes, limit %d", n, l.MaxControlPayload)
		}
		return nil
	}
	if n := p.Segments[0].Len; n != MsgHeader2Len {
		return frameErr(p.Tag, 2, "message header segment of %d bytes, want %d", n, MsgHeader2Len)
	}
	var body uint64
	for i := 1; i < int(p.NumSegments); i++ {
		body += uint64(p.Segments[i].Len)
	}
	if body > l.MaxMessageBytes {
		return frameErr(p.Tag, 8, "message of %d bytes, limit %d", body, l.MaxMessageBytes)
	}
	return nil
}

// FrameLen is the frame's size on the wire in msgr2.1 crc mode, preamble
// included: the preamble, segment 0 followed by its le32 crc when it is
// not empty, and for a frame of more than one segment the other segments
// and the 13-byte epilogue. For a preamble DecodePreamble accepted it is
// at most PreambleLen + 4 + MsgHeader2Len + MaxMessageBytes + EpilogueLen.
func (p Preamble) FrameLen() uint64 {
	n := uint64(PreambleLen)
	if p.Segments[0].Len > 0 {
		n += uint64(p.Segments[0].Len) + crcLen
	}
	if p.NumSegments > 1 {
		for i := 1; i < int(p.NumSegments); i++ {
			n += uint64(p.Segments[i].Len)
		}
		n += EpilogueLen
	}
	return n
}
