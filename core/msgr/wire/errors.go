package wire

import (
	"errors"
	"fmt"
)

// ErrShort reports that the input ends before the encoding does: read more
// bytes and decode again. It is never wrapped by this package.
var ErrShort = errors.New("msgr wire: need more bytes")

// ErrBadBanner reports a banner other than "ceph v027" (§3).
var ErrBadBanner = errors.New("msgr wire: bad banner")

// AddrError reports a legacy address that cannot be decoded (§4).
type AddrError struct {
	Marker uint32
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("msgr wire: legacy address marker %d, want 0", e.Marker)
}

// CRCError reports a CRC mismatch in a message (§9).
type CRCError struct {
	What string // "header", "front", "middle" or "data"
	Got  uint32 // carried on the wire
	Want uint32 // computed over the received bytes
}

func (e *CRCError) Error() string {
	return fmt.Sprintf("msgr wire: bad %s crc (got %#08x, want %#08x)", e.What, e.Got, e.Want)
}
