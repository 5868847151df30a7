package wire2

import (
	"encoding/binary"
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// crcLen is one le32 crc.
const crcLen = 4

// EpilogueLen is epilogue_crc_rev1_block_t: late_status and the crcs of
// segments 1..3.
const EpilogueLen = 1 + crcLen*(MaxSegments-1)

// Late status nibble of the msgr2.1 epilogue: two code words far apart in
// Hamming distance, so a bit flip cannot turn a complete frame into an
// aborted one or back (frames_v2.h). The high nibble is reserved.
const (
	LateStatusAborted  uint8 = 0x1
	LateStatusComplete uint8 = 0xe
	lateStatusMask     uint8 = 0xf
)

// segmentCRCSeed is Ceph's bufferlist::crc32c(-1): segment crcs start from
// all ones (the preamble's from 0).
const segmentCRCSeed = 0xffffffff

// SegmentCRC is a segment's crc as msgr2 carries it: ceph_crc32c(-1, p),
// the raw crc32c register update with no final inversion. An empty
// segment's crc is 0xffffffff.
func SegmentCRC(p []byte) uint32 { return wire.CRC32C(segmentCRCSeed, p) }

// Segment is one segment to send: its bytes and the alignment announced
// for them (AlignDefault, or AlignPage for a message's data).
type Segment struct {
	Data  []byte
	Align uint16
}

// Frame is a decoded frame. Segments alias the decoder's input.
type Frame struct {
	Preamble Preamble
	// Segments holds NumSegments entries; missing trailing segments of a
	// MESSAGE are empty.
	Segments [MaxSegments][]byte
	// Aborted: the sender gave up on the frame after starting it (late
	// status ABORTED); the frame must be dropped, the connection goes on.
	Aborted bool
}

// Tag is the frame's tag.
func (f Frame) Tag() Tag { return f.Preamble.Tag }

// Payload is a control frame's single segment.
func (f Frame) Payload() []byte { return f.Segments[0] }

// AppendFrame appends one frame in msgr2.1 crc mode (frames_v2.cc
// FrameAssembler::asm_crc_rev1): the preamble, segment 0 and its crc when
// not empty, then, for more than one segment, the others and the
// epilogue. Trailing empty segments are dropped from the count as Ceph's
// calc_num_segments does (a frame keeps at least one). At most MaxSegments
// segments; lengths over 4 GiB are the caller's bug and panic.
func AppendFrame(b []byte, tag Tag, segs ...Segment) []byte {
	if len(segs) == 0 || len(segs) > MaxSegments {
		panic(fmt.Sprintf("msgr2 wire: a frame has 1..%d segments, not %d", MaxSegments, len(segs)))
	}
	num := 1
	for i := len(segs); i > 1; i-- {
		if len(segs[i-1].Data) > 0 {
			num = i
			break
		}
	}
	p := Preamble{Tag: tag, NumSegments: uint8(num)}
	for i := range num {
		if uint64(len(segs[i].Data)) > 0xffffffff {
			panic("msgr2 wire: segment over 4 GiB")
		}
		p.Segments[i] = SegmentDesc{Len: uint32(len(segs[i].Data)), Align: segs[i].Align}
	}
	b = AppendPreamble(b, p)
	if d := segs[0].Data; len(d) > 0 {
		b = append(b, d...)
		b = binary.LittleEndian.AppendUint32(b, SegmentCRC(d))
	}
	if num == 1 {
		return b
	}
	var crcs [MaxSegments - 1]uint32
	for i := 1; i < num; i++ {
		b = append(b, segs[i].Data...)
		crcs[i-1] = SegmentCRC(segs[i].Data)
	}
	b = append(b, LateStatusComplete)
	for _, c := range crcs {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return b
}

// AppendControl appends a control frame: one segment with the default
// alignment, as Ceph's ControlFrame.
func AppendControl(b []byte, tag Tag, payload []byte) []byte {
	return AppendFrame(b, tag, Segment{Data: payload, Align: AlignDefault})
}

// DecodeFrame decodes one msgr2.1 crc-mode frame. The preamble is checked
// against l first (DecodePreamble), so a frame over a limit fails after 32
// bytes, before the caller buffers it; then ErrShort until the whole frame
// (Preamble.FrameLen) is in b; then segment 0's inline crc, the epilogue's
// late status and the other segments' crcs, as Ceph's
// disasm_first_crc_rev1 and disasm_remaining_crc_rev1.
func DecodeFrame(b []byte, l Limits) (Frame, int, error) {
	p, _, err := DecodePreamble(b, l)
	if err != nil {
		return Frame{}, 0, err
	}
	total := p.FrameLen()
	if uint64(len(b)) < total {
		return Frame{}, 0, ErrShort
	}
	f := Frame{Preamble: p}
	off := PreambleLen
	if n := int(p.Segments[0].Len); n > 0 {
		f.Segments[0] = b[off : off+n : off+n]
		off += n
		if got, want := binary.LittleEndian.Uint32(b[off:]), SegmentCRC(f.Segments[0]); got != want {
			return Frame{}, 0, &CRCError{What: "segment 0", Got: got, Want: want}
		}
		off += crcLen
	}
	if p.NumSegments == 1 {
		return f, off, nil
	}
	for i := 1; i < int(p.NumSegments); i++ {
		n := int(p.Segments[i].Len)
		f.Segments[i] = b[off : off+n : off+n]
		off += n
	}
	// Crcs first, then the late status, in Ceph's order: an aborted
	// frame's segments are checked too.
	for i := 1; i < int(p.NumSegments); i++ {
		got := binary.LittleEndian.Uint32(b[off+1+crcLen*(i-1):])
		if want := SegmentCRC(f.Segments[i]); got != want {
			return Frame{}, 0, &CRCError{What: fmt.Sprintf("segment %d", i), Got: got, Want: want}
		}
	}
	switch status := b[off]; status & lateStatusMask {
	case LateStatusComplete:
	case LateStatusAborted:
		f.Aborted = true
	default:
		return Frame{}, 0, frameErr(p.Tag, off, "bad late status %#02x", status)
	}
	return f, off + EpilogueLen, nil
}
