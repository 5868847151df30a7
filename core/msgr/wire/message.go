package wire

import (
	"errors"
	"fmt"
)

// CRCMode says which CRCs a sender computes and a receiver checks; Ceph's
// ms_crc_header and ms_crc_data, local settings never negotiated (§9.2).
type CRCMode struct {
	Header bool // header crc and front/middle crcs
	Data   bool // data crc
}

// CRCAll is Ceph's default: both on.
var CRCAll = CRCMode{Header: true, Data: true}

// ErrAborted reports a footer without the COMPLETE flag (§8.3).
var ErrAborted = errors.New("msgr wire: message footer without COMPLETE (aborted)")

// MakeFooter computes the footer of a message for the sender's crc mode.
func MakeFooter(front, middle, data []byte, crc CRCMode) Footer {
	f := Footer{Flags: FooterComplete}
	if crc.Header {
		f.FrontCRC = CRC32C(0, front)
		f.MiddleCRC = CRC32C(0, middle)
	}
	if crc.Data {
		f.DataCRC = CRC32C(0, data)
	} else {
		f.Flags |= FooterNoCRC
	}
	return f
}

// CheckFooter applies the receiver's processing of §8.4 steps 4–5.
func CheckFooter(f Footer, front, middle, data []byte, crc CRCMode) error {
	if f.Flags&FooterComplete == 0 {
		return ErrAborted
	}
	if crc.Header {
		if c := CRC32C(0, front); c != f.FrontCRC {
			return &CRCError{What: "front", Got: f.FrontCRC, Want: c}
		}
		if c := CRC32C(0, middle); c != f.MiddleCRC {
			return &CRCError{What: "middle", Got: f.MiddleCRC, Want: c}
		}
	}
	if crc.Data && f.Flags&FooterNoCRC == 0 {
		if c := CRC32C(0, data); c != f.DataCRC {
			return &CRCError{What: "data", Got: f.DataCRC, Want: c}
		}
	}
	return nil
}

// AppendMessage appends a whole MSG frame (tag, header, front, middle, data,
// footer) into one buffer; h's lengths are set from the sections. Writers
// that avoid copying payloads use AppendHeader and AppendFooter directly.
func AppendMessage(b []byte, h Header, front, middle, data []byte, msgAuth bool, crc CRCMode) []byte {
	h.FrontLen, h.MiddleLen, h.DataLen = uint32(len(front)), uint32(len(middle)), uint32(len(data))
	b = append(b, byte(TagMsg))
	b = AppendHeader(b, h, crc.Header)
	b = append(b, front...)
	b = append(b, middle...)
	b = append(b, data...)
	return AppendFooter(b, MakeFooter(front, middle, data, crc), msgAuth)
}

// Frame is a fully decoded MSG frame; its sections alias the input.
type Frame struct {
	Header              Header
	Front, Middle, Data []byte
	Footer              Footer
}

// LengthError reports a header whose sections exceed a receiver limit.
type LengthError struct {
	Len, Max uint64
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("msgr wire: message of %d bytes exceeds limit %d", e.Len, e.Max)
}

// DecodeMessage decodes a MSG frame body (after the tag byte) held whole in
// b, checking the header CRC and the footer per crc and refusing payloads
// over maxPayload before looking for them. Sections alias b. Streaming
// receivers use DecodeHeader/DecodeFooter instead; this is for tests, tools
// and fuzzing.
func DecodeMessage(b []byte, msgAuth bool, crc CRCMode, maxPayload uint64) (Frame, int, error) {
	h, n, err := DecodeHeader(b)
	if err != nil {
		return Frame{}, 0, err
	}
	if crc.Header {
		if err := CheckHeaderCRC(b); err != nil {
			return Frame{}, 0, err
		}
	}
	if pl := h.PayloadLen(); pl > maxPayload {
		return Frame{}, 0, &LengthError{Len: pl, Max: maxPayload}
	}
	fl, ml, dl := int(h.FrontLen), int(h.MiddleLen), int(h.DataLen)
	end := n + fl + ml + dl
	if len(b) < end {
		return Frame{}, 0, ErrShort
	}
	fr := Frame{Header: h, Front: b[n : n+fl], Middle: b[n+fl : n+fl+ml], Data: b[n+fl+ml : end]}
	f, fn, err := DecodeFooter(b[end:], msgAuth)
	if err != nil {
		return Frame{}, 0, err
	}
	if err := CheckFooter(f, fr.Front, fr.Middle, fr.Data, crc); err != nil {
		return Frame{}, 0, err
	}
	fr.Footer = f
	return fr, end + fn, nil
}
