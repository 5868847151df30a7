package wire

import "encoding/binary"

// Sizes of the message header and footers (§8).
const (
	HeaderLen       = 53
	headerCRCOffset = 49
	FooterLen       = 21 // with MSG_AUTH: front, middle, data crc + sig + flags
	FooterOldLen    = 13 // without MSG_AUTH: no sig
)

// Footer flags (§8.3).
const (
	FooterComplete uint8 = 1 // "not aborted"; a footer without it is a fault
	FooterNoCRC    uint8 = 2 // data_crc not computed
	FooterSigned   uint8 = 4
)

// Priorities (§8.1).
const (
	PrioLow     uint16 = 64
	PrioDefault uint16 = 127
	PrioHigh    uint16 = 196
	PrioHighest uint16 = 255
)

// Header is ceph_msg_header, the 53-byte current form (§8.1).
type Header struct {
	Seq           uint64
	Tid           uint64
	Type          uint16
	Priority      uint16
	Version       uint16
	FrontLen      uint32
	MiddleLen     uint32
	DataLen       uint32
	DataOff       uint16
	Src           EntityName
	CompatVersion uint16
	Reserved      uint16
	CRC           uint32 // as carried on the wire (decode) or computed (encode)
}

// AppendHeader appends the header; when crc is true it computes header.crc
// over the first 49 bytes, else it writes 0 (a sender with ms_crc_header off).
func AppendHeader(b []byte, h Header, crc bool) []byte {
	start := len(b)
	le := binary.LittleEndian
	b = le.AppendUint64(b, h.Seq)
	b = le.AppendUint64(b, h.Tid)
	b = le.AppendUint16(b, h.Type)
	b = le.AppendUint16(b, h.Priority)
	b = le.AppendUint16(b, h.Version)
	b = le.AppendUint32(b, h.FrontLen)
	b = le.AppendUint32(b, h.MiddleLen)
	b = le.AppendUint32(b, h.DataLen)
	b = le.AppendUint16(b, h.DataOff)
	b = append(b, byte(h.Src.Type))
	b = le.AppendUint64(b, uint64(h.Src.Num))
	b = le.AppendUint16(b, h.CompatVersion)
	b = le.AppendUint16(b, h.Reserved)
	var c uint32
	if crc {
		c = CRC32C(0, b[start:])
	}
	return le.AppendUint32(b, c)
}

// DecodeHeader decodes 53 bytes. It does not check the CRC: see
// CheckHeaderCRC, which the receiver calls when ms_crc_header is on.
func DecodeHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderLen {
		return Header{}, 0, ErrShort
	}
	le := binary.LittleEndian
	return Header{
		Seq:           le.Uint64(b[0:]),
		Tid:           le.Uint64(b[8:]),
		Type:          le.Uint16(b[16:]),
		Priority:      le.Uint16(b[18:]),
		Version:       le.Uint16(b[20:]),
		FrontLen:      le.Uint32(b[22:]),
		MiddleLen:     le.Uint32(b[26:]),
		DataLen:       le.Uint32(b[30:]),
		DataOff:       le.Uint16(b[34:]),
		Src:           EntityName{Type: EntityType(b[36]), Num: int64(le.Uint64(b[37:]))},
		CompatVersion: le.Uint16(b[45:]),
		Reserved:      le.Uint16(b[47:]),
		CRC:           le.Uint32(b[49:]),
	}, HeaderLen, nil
}

// CheckHeaderCRC checks raw header bytes (at least HeaderLen) against their
// crc field; the error is a *CRCError.
func CheckHeaderCRC(raw []byte) error {
	got := binary.LittleEndian.Uint32(raw[headerCRCOffset:])
	if want := CRC32C(0, raw[:headerCRCOffset]); got != want {
		return &CRCError{What: "header", Got: got, Want: want}
	}
	return nil
}

// PayloadLen is front+middle+data as a 64-bit sum (never overflows).
func (h *Header) PayloadLen() uint64 {
	return uint64(h.FrontLen) + uint64(h.MiddleLen) + uint64(h.DataLen)
}

// Footer is ceph_msg_footer (21 bytes) or ceph_msg_footer_old (13 bytes,
// Sig absent) by the session's MSG_AUTH feature.
type Footer struct {
	FrontCRC  uint32
	MiddleCRC uint32
	DataCRC   uint32
	Sig       uint64
	Flags     uint8
}

// FooterSize is the footer length for a session with or without MSG_AUTH.
func FooterSize(msgAuth bool) int {
	if msgAuth {
		return FooterLen
	}
	return FooterOldLen
}

// AppendFooter appends the 21-byte (msgAuth) or 13-byte footer.
func AppendFooter(b []byte, f Footer, msgAuth bool) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, f.FrontCRC)
	b = le.AppendUint32(b, f.MiddleCRC)
	b = le.AppendUint32(b, f.DataCRC)
	if msgAuth {
		b = le.AppendUint64(b, f.Sig)
	}
	return append(b, f.Flags)
}

// DecodeFooter decodes a 21-byte (msgAuth) or 13-byte footer.
func DecodeFooter(b []byte, msgAuth bool) (Footer, int, error) {
	n := FooterSize(msgAuth)
	if len(b) < n {
		return Footer{}, 0, ErrShort
	}
	le := binary.LittleEndian
	f := Footer{FrontCRC: le.Uint32(b[0:]), MiddleCRC: le.Uint32(b[4:]), DataCRC: le.Uint32(b[8:])}
	if msgAuth {
		f.Sig = le.Uint64(b[12:])
	}
	f.Flags = b[n-1]
	return f, n, nil
}
