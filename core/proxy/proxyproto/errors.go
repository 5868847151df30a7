package proxyproto

import (
	"errors"
	"fmt"
)

// ErrNeedMore means the bytes given are a valid prefix of a header that is
// not complete yet: call Decode again once more bytes have arrived. It is a
// plain sentinel so that the hot path allocates nothing.
var ErrNeedMore = errors.New("proxyproto: incomplete header, need more bytes")

// Kind classifies an invalid header the way HAProxy's log does, so a proxy
// can log the same reason HAProxy would.
type Kind uint8

const (
	// KindNotProxy: neither "PROXY " nor the v2 signature and version.
	KindNotProxy Kind = iota + 1
	// KindUnhandledProtocol: a v1 protocol token other than TCP4, TCP6 or
	// UNKNOWN (in CompatHAProxy26: other than the exact "UNKNOWN\r\n").
	KindUnhandledProtocol
	// KindInvalid: bad syntax, command, family, length, TLV or CRC.
	KindInvalid
	// KindTruncated: the connection ended (or the caller gave up) with a
	// partial header buffered. Decode never returns it; see EOFError.
	KindTruncated
	// KindClosed: the connection ended before any byte arrived.
	KindClosed
	// KindTimeout: no complete header within the caller's deadline.
	KindTimeout
)

// HAProxyReason is the text HAProxy 2.6 logs for this kind of failure.
func (k Kind) HAProxyReason() string {
	switch k {
	case KindNotProxy:
		return "Received something which does not look like a PROXY protocol header"
	case KindUnhandledProtocol:
		return "Received an unhandled protocol in the PROXY protocol header"
	case KindInvalid:
		return "Received an invalid PROXY protocol header"
	case KindTruncated:
		return "Truncated PROXY protocol header received"
	case KindClosed:
		return "Connection closed while waiting for PROXY protocol header"
	case KindTimeout:
		return "Timeout while waiting for PROXY protocol header"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

func (k Kind) String() string {
	switch k {
	case KindNotProxy:
		return "not a PROXY header"
	case KindUnhandledProtocol:
		return "unhandled protocol"
	case KindInvalid:
		return "invalid header"
	case KindTruncated:
		return "truncated header"
	case KindClosed:
		return "closed before header"
	case KindTimeout:
		return "timeout waiting for header"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error is an invalid (or, for the caller-side kinds, missing) header.
// Match it with errors.As.
type Error struct {
	Kind    Kind
	Version int    // 1 or 2 once known, 0 before
	Offset  int    // byte offset of the fault from the start of the header
	Reason  string // what exactly is wrong
}

func (e *Error) Error() string {
	v := ""
	if e.Version != 0 {
		v = fmt.Sprintf("v%d ", e.Version)
	}
	return fmt.Sprintf("proxyproto: %s%s at byte %d: %s", v, e.Kind, e.Offset, e.Reason)
}

func errorf(kind Kind, version, off int, format string, args ...any) *Error {
	return &Error{Kind: kind, Version: version, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// EOFError is the error for a connection that ended, or timed out, with
// buffered still holding no complete header (Decode said ErrNeedMore):
// KindClosed when nothing arrived, KindTruncated otherwise. With
// timedOut it is KindTimeout when nothing arrived, as in HAProxy.
func EOFError(buffered []byte, timedOut bool) *Error {
	switch {
	case len(buffered) == 0 && timedOut:
		return errorf(KindTimeout, 0, 0, "no header before the deadline")
	case len(buffered) == 0:
		return errorf(KindClosed, 0, 0, "connection closed before any byte")
	}
	v := 0
	switch buffered[0] {
	case 'P':
		v = 1
	case '\r':
		v = 2
	}
	return errorf(KindTruncated, v, len(buffered), "header incomplete after %d bytes", len(buffered))
}
