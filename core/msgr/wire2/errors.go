package wire2

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// ErrShort reports that the input ends before the encoding does: read
// more bytes and decode again. It is wire.ErrShort, never wrapped.
var ErrShort = wire.ErrShort

// FrameError reports a frame that cannot be accepted: a bad crc, a length
// over a limit, a malformed preamble or payload. Off is the byte offset in
// the decoder's input where the fault was found.
type FrameError struct {
	Tag Tag
	Off int
	Msg string
}

func (e *FrameError) Error() string {
	if e.Tag == 0 {
		return fmt.Sprintf("msgr2 wire: at byte %d: %s", e.Off, e.Msg)
	}
	return fmt.Sprintf("msgr2 wire: %s frame at byte %d: %s", e.Tag, e.Off, e.Msg)
}

func frameErr(tag Tag, off int, format string, args ...any) error {
	return &FrameError{Tag: tag, Off: off, Msg: fmt.Sprintf(format, args...)}
}

// CRCError reports a crc mismatch in a frame.
type CRCError struct {
	What string // "preamble" or "segment N"
	Got  uint32 // carried on the wire
	Want uint32 // computed over the received bytes
}

func (e *CRCError) Error() string {
	return fmt.Sprintf("msgr2 wire: bad %s crc (got %#08x, want %#08x)", e.What, e.Got, e.Want)
}

// FeatureError reports a banner whose required msgr2 features we lack, or
// that lacks what we require.
type FeatureError struct {
	Ours    bool   // true: the peer lacks features we require
	Missing uint64 // the feature bits one side requires and the other lacks
}

func (e *FeatureError) Error() string {
	if e.Ours {
		return fmt.Sprintf("msgr2 wire: peer does not support the msgr2 features we require (missing %#x)", e.Missing)
	}
	return fmt.Sprintf("msgr2 wire: peer requires msgr2 features we do not support (%#x: %s)", e.Missing, FeatureNames(e.Missing))
}
