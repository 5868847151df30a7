package proto2

import (
	"errors"
	"fmt"
	"slices"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// The acceptor's side of the handshake (ProtocolV2's server methods):
// banner → HELLO → AUTH_REQUEST → AUTH_DONE → AUTH_SIGNATURE both ways →
// CLIENT_IDENT → SERVER_IDENT.

// maxAuthRequests bounds the AUTH_REQUESTs one connection may try: a Ceph
// client refused (AUTH_BAD_METHOD) retries with its next method, and has
// only a few (cephx, none).
const maxAuthRequests = 3

// eOpNotSupp is Linux's -EOPNOTSUPP, the result Ceph puts in
// AUTH_BAD_METHOD when it has no handler for the method or mode.
const eOpNotSupp = -95

func (c *Conn) acceptHello(h wire2.Hello) error {
	switch h.EntityType {
	case wire.EntityMon, wire.EntityMDS, wire.EntityOSD, wire.EntityClient, wire.EntityMgr:
	default:
		return fmt.Errorf("%w: HELLO from entity type %d", ErrPeerType, uint8(h.EntityType))
	}
	if c.server.AcceptPeer != nil {
		if err := c.server.AcceptPeer(h.EntityType); err != nil {
			return err
		}
	}
	c.peerType = h.EntityType
	c.state = StateAuthAccepting
	return nil
}

func (c *Conn) handleAuthRequest(p []byte) error {
	r, err := payload(p, "AUTH_REQUEST", wire2.DecodeAuthRequest)
	if err != nil {
		return err
	}
	c.authTries++
	if c.authTries > maxAuthRequests {
		return fmt.Errorf("%w: %d", ErrAuthAttempts, c.authTries)
	}
	if r.Method != wire2.AuthNone {
		// Ceph answers and keeps reading: the client may retry with
		// another of its methods.
		c.sendBadMethod(r.Method)
		return nil
	}
	if !slices.Contains(r.PreferredModes, wire2.ConModeCRC) {
		// Nothing the client can retry with helps: we have no other
		// mode. Tell it why, then close.
		c.sendBadMethod(r.Method)
		if slices.Contains(r.PreferredModes, wire2.ConModeSecure) {
			return fmt.Errorf("client offers modes %v: %w", r.PreferredModes, ErrSecureMode)
		}
		return fmt.Errorf("client offers modes %v, we have crc (%d) only", r.PreferredModes, wire2.ConModeCRC)
	}
	gid, id, err := c.authNone(r.Payload)
	if err != nil {
		return err
	}
	c.peer.GlobalID, c.peer.AuthID = gid, id
	c.sendControl(wire2.TagAuthDone, wire2.AppendAuthDone(c.scratch(), wire2.AuthDone{GlobalID: gid, ConMode: wire2.ConModeCRC}))
	c.sendSignature()
	c.state = StateAuthAcceptingSign
	return nil
}

func (c *Conn) sendBadMethod(method uint32) {
	c.sendControl(wire2.TagAuthBadMethod, wire2.AppendAuthBadMethod(c.scratch(), wire2.AuthBadMethod{
		Method: method, Result: eOpNotSupp,
		AllowedMethods: []uint32{wire2.AuthNone}, AllowedModes: []uint32{wire2.ConModeCRC},
	}))
}

// authNone reads an auth none payload, whose first byte is its mode: a
// client asking a monitor (AUTH_MODE_MON) gets our GlobalID assigned, as
// AuthMonitor does; a client presenting an auth none authorizer to a
// daemon keeps the global_id in it, as AuthNoneAuthorizeHandler does. The
// reply payload is empty either way.
func (c *Conn) authNone(p []byte) (gid uint64, id string, err error) {
	if len(p) == 0 {
		return 0, "", fmt.Errorf("%w: empty", ErrBadAuthPayload)
	}
	if p[0] == wire2.AuthModeMon {
		r, _, err := wire2.DecodeMonAuthRequest(p)
		if err != nil {
			return 0, "", fmt.Errorf("%w: AUTH_MODE_MON: %v", ErrBadAuthPayload, truncated(err))
		}
		return c.server.GlobalID, r.ID, nil
	}
	a, _, err := wire.DecodeAuthNone(p)
	if err != nil {
		return 0, "", fmt.Errorf("%w: authorizer (mode %d): %v", ErrBadAuthPayload, p[0], truncated(err))
	}
	return a.GlobalID, a.ID, nil
}

// truncated names ErrShort for what it is inside a whole payload.
func truncated(err error) error {
	if err == wire2.ErrShort {
		return errors.New("truncated")
	}
	return err
}

func (c *Conn) handleClientIdent(p []byte) error {
	ci, err := payload(p, "CLIENT_IDENT", wire2.DecodeClientIdent)
	if err != nil {
		return err
	}
	if noPeerAddr(ci.Addrs) {
		return ErrNoPeerAddrs
	}
	if !containsAddr(c.server.Addrs, ci.TargetAddr) {
		return fmt.Errorf("%w: client is trying to reach %s, we are %s", ErrTargetAddr, ci.TargetAddr.TypedString(), addrsString(c.server.Addrs))
	}
	if missing := c.required &^ ci.SupportedFeatures; missing != 0 {
		// Ceph tells the client and lets it fault; it has nothing to say
		// after that, so we close once the frame is out.
		c.sendControl(wire2.TagIdentMissingFeatures, wire2.AppendU64(c.scratch(), missing))
		return fmt.Errorf("%w: client lacks %#x", ErrMissingFeatures, missing)
	}
	if missing := ci.RequiredFeatures &^ c.features; missing != 0 {
		return fmt.Errorf("%w: client requires %#x that we lack", ErrMissingFeatures, missing)
	}
	// The server's policy decides, whatever the client's flag says.
	lossy := c.server.Lossy(c.peerType)
	c.identified(ci.GlobalID, ci.Addrs, ci.GlobalSeq, ci.SupportedFeatures, ci.Cookie, lossy)
	var flags, cookie uint64
	if lossy {
		flags = wire2.FlagLossy
	} else {
		cookie = c.server.Cookie
	}
	c.sendControl(wire2.TagServerIdent, wire2.AppendServerIdent(c.scratch(), wire2.ServerIdent{
		Addrs: c.server.Addrs, GlobalID: c.server.EntityNum, GlobalSeq: c.server.GlobalSeq,
		SupportedFeatures: c.features, RequiredFeatures: c.required, Flags: flags, Cookie: cookie,
	}))
	c.established()
	return nil
}

// handleReconnect answers a lossless client that lost its connection and
// asks to resume its session. We keep no session beyond a connection (the
// messenger step will), so there is never one to resume: as Ceph's
// handle_reconnect does when it finds no existing connection, we answer
// SESSION_RESET with full set and keep waiting in SESSION_ACCEPTING; the
// client drops its session state and sends CLIENT_IDENT. Faulting instead
// would leave the client retrying its reconnect forever.
func (c *Conn) handleReconnect(p []byte) error {
	r, err := payload(p, "SESSION_RECONNECT", wire2.DecodeReconnect)
	if err != nil {
		return err
	}
	if noPeerAddr(r.Addrs) {
		return ErrNoPeerAddrs
	}
	c.sendControl(wire2.TagSessionReset, wire2.AppendSessionReset(c.scratch(), wire2.SessionReset{Full: true}))
	return nil
}

// noPeerAddr reports an ident (CLIENT_IDENT, SESSION_RECONNECT) whose
// first address is missing or blank: the peer must say where it is.
func noPeerAddr(addrs []wire.EntityAddr) bool {
	return len(addrs) == 0 || addrs[0].Equal(wire.EntityAddr{})
}
