package proto2

import (
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// Sentinels a fault wraps; match them with errors.Is. Faults from the
// codecs wrap wire2's typed errors (*wire2.FrameError, *wire2.CRCError,
// *wire2.FeatureError, wire2.ErrBadBanner, wire2.ErrV1Banner) instead.
var (
	// ErrRevision0 is a peer whose banner lacks REVISION_1: msgr2.0 frames
	// (no inline segment-0 crc, no late status) are not implemented.
	ErrRevision0 = errors.New("peer speaks msgr2.0 (no REVISION_1 in its banner), only msgr2.1 is implemented")
	// ErrUnexpectedFrame is a frame the current state does not accept
	// (Ceph faults the same way: "not in ... state").
	ErrUnexpectedFrame = errors.New("unexpected frame")
	// ErrWait is the client's fault on WAIT: the server is connecting to
	// us at the same time and its connection wins the race (Ceph's
	// client faults too and lets the other connection serve). Not a
	// protocol error: a messenger backs off (ms_max_backoff) before it
	// redials, and the race usually ends first.
	ErrWait = errors.New("peer answered WAIT: its own connection to us wins the race")
	// ErrSecureMode is an AUTH_REQUEST that offers only secure mode, or an
	// AUTH_DONE that picks it: AES-GCM frames need cephx session keys and
	// only crc mode with auth none is implemented.
	ErrSecureMode = errors.New("secure mode (AES-GCM) is not supported: it needs cephx session keys; only crc mode is implemented")
	// ErrAuthRefused is the client's fault on AUTH_BAD_METHOD: auth none
	// is the only method we have, so there is nothing to retry with.
	ErrAuthRefused = errors.New("server refused auth none")
	// ErrAuthAttempts is the server's fault after too many refused
	// AUTH_REQUESTs on one connection.
	ErrAuthAttempts = errors.New("too many refused AUTH_REQUESTs")
	// ErrSessionAttempts is the server's fault after too many
	// CLIENT_IDENTs and SESSION_RECONNECTs on one connection.
	ErrSessionAttempts = errors.New("too many session requests (CLIENT_IDENT, SESSION_RECONNECT)")
	// ErrBadAuthPayload is an auth none payload that is neither a monitor
	// request (AUTH_MODE_MON) nor an auth none authorizer.
	ErrBadAuthPayload = errors.New("bad auth none payload")
	// ErrBadSignature is an AUTH_SIGNATURE that differs from what the
	// sender should have computed over what we sent it.
	ErrBadSignature = errors.New("pre-auth signature mismatch")
	// ErrPeerType is a HELLO from an entity type we did not dial (client)
	// or do not know (server).
	ErrPeerType = errors.New("unexpected peer entity type")
	// ErrTargetAddr is a CLIENT_IDENT whose target address is not one of
	// ours, or a SERVER_IDENT whose addresses lack the one we dialled.
	ErrTargetAddr = errors.New("peer addresses do not match")
	// ErrNoPeerAddrs is a CLIENT_IDENT or SESSION_RECONNECT without an
	// address (the fault names the frame).
	ErrNoPeerAddrs = errors.New("the peer's ident carries no address")
	// ErrMissingFeatures is a peer lacking Ceph features the other side
	// requires (IDENT_MISSING_FEATURES, or our own check of an ident).
	ErrMissingFeatures = errors.New("required Ceph features missing")
	// ErrBadAck is an acknowledgement of a seq we never sent.
	ErrBadAck = errors.New("ack of a message never sent")
	// ErrNotReady is returned by the Send methods before the session is
	// established; it is not a fault.
	ErrNotReady = errors.New("session not established")
	// ErrNoFrame is Peek's answer before the banners are exchanged: no
	// frame comes before them. Not a fault.
	ErrNoFrame = errors.New("no frame before the banner exchange")
)

// Error is a fault: the connection must be closed. Output may still hold a
// last frame the peer should see before the close (AUTH_BAD_METHOD,
// IDENT_MISSING_FEATURES).
type Error struct {
	Role  Role
	Peer  string    // the peer's address as far as we know it
	State State     // the state the fault happened in
	Tag   wire2.Tag // the frame being handled; 0 for the banner
	Err   error
}

func (e *Error) Error() string {
	where := e.State.String()
	if e.Tag != 0 {
		where = e.Tag.String() + " in " + where
	}
	return fmt.Sprintf("msgr2 %s %s: %s: %v", e.Role, e.Peer, where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
