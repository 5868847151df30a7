package protocol

import (
	"errors"
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/msgr/proto2"
)

// Errors.
var (
	ErrOutQueueFull     = errors.New("msgr: session out-queue full")
	ErrSessionClosed    = errors.New("msgr: session closed")
	ErrInjectedFailure  = errors.New("msgr: injected socket failure")
	ErrHandshakeTimeout = errors.New("msgr: handshake timeout")
	ErrPeerClosed       = errors.New("msgr: peer sent CLOSE")
	ErrMarkedDown       = errors.New("msgr: marked down")
	ErrReplaced         = errors.New("msgr: socket replaced by a newer one")
	ErrIdle             = errors.New("msgr: connection idle timeout")
	ErrMessageTooLarge  = errors.New("msgr: message larger than MaxMessageBytes")
	// ErrBodyTimeout: a message body made no progress for
	// Config.BodyProgressTimeout (wrapped in a ProtocolError with the counts).
	ErrBodyTimeout = errors.New("msgr: message body made no progress")
	// ErrV2NoCRC: Config.CRC turns checks off, which msgr2.1 crc mode
	// cannot (its preamble, segment and epilogue crcs are the mode).
	ErrV2NoCRC = errors.New("msgr: msgr2 crc mode always checks crcs; CRC off is msgr1 only")
)

// ProtocolError is a fault caused by what the peer sent. The socket is
// closed; other sockets are not affected.
type ProtocolError struct {
	Op   string // "accept" or "connect"
	Peer string // remote socket address
	Err  error  // what was wrong; wire.CRCError, wire.LengthError, ... match with errors.As
}

func (e *ProtocolError) Error() string {
	var p2 *proto2.Error
	if errors.As(e.Err, &p2) {
		return "msgr: " + e.Err.Error() // it names the side and the peer itself
	}
	return fmt.Sprintf("msgr: %s %s: %v", e.Op, e.Peer, e.Err)
}
func (e *ProtocolError) Unwrap() error { return e.Err }

// UnknownTagError is an unknown tag in the OPENED state (§16 #13).
type UnknownTagError struct{ Tag uint8 }

func (e *UnknownTagError) Error() string { return fmt.Sprintf("unknown tag %d", e.Tag) }

// ReplyError is a connect reply that ends the attempt (FEATURES,
// BADPROTOVER, BADAUTHORIZER, or a reply Ceph would assert on).
type ReplyError struct {
	Tag     uint8
	Reason  string
	Missing uint64 // FEATURES: the required bits we lack
}

func (e *ReplyError) Error() string { return fmt.Sprintf("connect reply tag %d: %s", e.Tag, e.Reason) }

// BodyTimeoutError is a message body that stopped arriving: Have of Len
// bytes (payload and footer) after no progress for After. It matches
// ErrBodyTimeout with errors.Is.
type BodyTimeoutError struct {
	Have, Len int
	After     time.Duration
}

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("%v: %d of %d bytes, none for %v", ErrBodyTimeout, e.Have, e.Len, e.After)
}

func (e *BodyTimeoutError) Is(target error) bool { return target == ErrBodyTimeout }
