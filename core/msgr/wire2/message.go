package wire2

import (
	"encoding/binary"
)

// MsgHeader2Len is the size of ceph_msg_header2, a MESSAGE frame's
// segment 0.
const MsgHeader2Len = 41

// MsgHeader2 is ceph_msg_header2 (src/include/msgr.h). Unlike msgr1's
// header it carries no lengths (the preamble has them), no source (the
// session knows its peer) and no crc (the frame has them), and it carries
// the ACK of what the sender received (AckSeq).
type MsgHeader2 struct {
	Seq               uint64
	Tid               uint64
	Type              uint16
	Priority          uint16
	Version           uint16
	DataPrePaddingLen uint32
	DataOff           uint16
	AckSeq            uint64
	Flags             uint8
	CompatVersion     uint16
	Reserved          uint16
}

// AppendMsgHeader2 appends the 41 packed little-endian bytes.
func AppendMsgHeader2(b []byte, h MsgHeader2) []byte {
	b = binary.LittleEndian.AppendUint64(b, h.Seq)
	b = binary.LittleEndian.AppendUint64(b, h.Tid)
	b = binary.LittleEndian.AppendUint16(b, h.Type)
	b = binary.LittleEndian.AppendUint16(b, h.Priority)
	b = binary.LittleEndian.AppendUint16(b, h.Version)
	b = binary.LittleEndian.AppendUint32(b, h.DataPrePaddingLen)
	b = binary.LittleEndian.AppendUint16(b, h.DataOff)
	b = binary.LittleEndian.AppendUint64(b, h.AckSeq)
	b = append(b, h.Flags)
	b = binary.LittleEndian.AppendUint16(b, h.CompatVersion)
	return binary.LittleEndian.AppendUint16(b, h.Reserved)
}

// DecodeMsgHeader2 decodes 41 bytes.
func DecodeMsgHeader2(p []byte) (MsgHeader2, int, error) {
	d := decoder{b: p}
	h := MsgHeader2{Seq: d.u64(), Tid: d.u64(), Type: d.u16(), Priority: d.u16(), Version: d.u16(),
		DataPrePaddingLen: d.u32(), DataOff: d.u16(), AckSeq: d.u64(), Flags: d.u8(),
		CompatVersion: d.u16(), Reserved: d.u16()}
	n, err := d.done()
	return h, n, err
}

// Message is a MESSAGE frame's content; the sections alias the frame.
type Message struct {
	Header MsgHeader2
	Front  []byte
	Middle []byte
	Data   []byte
}

// AppendMessage appends a MESSAGE frame: header, front, middle and data
// as segments 0..3 (data page-aligned), empty trailing sections dropped
// from the segment count as Ceph does. It is AppendFrame's layout with
// the header encoded straight into b, so that framing a message into a
// buffer with room allocates nothing (the messenger's writer does it per
// message).
func AppendMessage(b []byte, m Message) []byte {
	secs := [MaxSegments - 1][]byte{m.Front, m.Middle, m.Data}
	aligns := [MaxSegments - 1]uint16{AlignDefault, AlignDefault, AlignPage}
	num := 1
	for i := len(secs); i >= 1; i-- {
		if len(secs[i-1]) > 0 {
			num = i + 1
			break
		}
	}
	p := Preamble{Tag: TagMessage, NumSegments: uint8(num)}
	p.Segments[0] = SegmentDesc{Len: MsgHeader2Len, Align: AlignDefault}
	for i := 1; i < num; i++ {
		if uint64(len(secs[i-1])) > 0xffffffff {
			panic("msgr2 wire: segment over 4 GiB")
		}
		p.Segments[i] = SegmentDesc{Len: uint32(len(secs[i-1])), Align: aligns[i-1]}
	}
	b = AppendPreamble(b, p)
	start := len(b)
	b = AppendMsgHeader2(b, m.Header)
	b = binary.LittleEndian.AppendUint32(b, SegmentCRC(b[start:]))
	if num == 1 {
		return b
	}
	var crcs [MaxSegments - 1]uint32
	for i := 1; i < num; i++ {
		b = append(b, secs[i-1]...)
		crcs[i-1] = SegmentCRC(secs[i-1])
	}
	b = append(b, LateStatusComplete)
	for _, c := range crcs {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return b
}

// DecodeMessage reads a decoded MESSAGE frame. DecodeFrame has already
// checked the header segment's length and the body against Limits.
func DecodeMessage(f Frame) (Message, error) {
	if f.Tag() != TagMessage {
		return Message{}, frameErr(f.Tag(), 0, "not a MESSAGE frame")
	}
	h, _, err := DecodeMsgHeader2(f.Segments[0])
	if err != nil {
		return Message{}, frameErr(TagMessage, PreambleLen, "header segment of %d bytes, want %d", len(f.Segments[0]), MsgHeader2Len)
	}
	return Message{Header: h, Front: f.Segments[1], Middle: f.Segments[2], Data: f.Segments[3]}, nil
}
