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

// maxSessionRequests bounds the CLIENT_IDENTs and SESSION_RECONNECTs one
// connection may send: a Ceph client needs at most a few (RETRY or
// RETRY_GLOBAL, then SESSION_RESET and CLIENT_IDENT), so a peer looping on
// refusals is cut off rather than served forever.
const maxSessionRequests = 8

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
	if err := c.sessionRequest(); err != nil {
		return err
	}
	if noPeerAddr(ci.Addrs) {
		return ErrNoPeerAddrs
	}
	if !containsAddr(c.server.Addrs, ci.TargetAddr) {
		return fmt.Errorf("%w: client is trying to reach %s, we are %s", ErrTargetAddr, ci.TargetAddr.TypedString(), addrsString(c.server.Addrs))
	}
	need := c.required
	if c.server.RequiredFor != nil {
		need |= c.server.RequiredFor(c.peerType)
	}
	if missing := need &^ ci.SupportedFeatures; missing != 0 {
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
	if !lossy && c.server.Session != nil {
		d := c.server.Session(SessionRequest{Peer: c.peer})
		if d.Reply != ReplyAccept {
			return c.answer(d)
		}
		// A session of ours the client's resumes under a new
		// establishment (the peer restarted, or its SERVER_IDENT was
		// lost): our numbering goes on, the peer's starts again.
		c.inSeq, c.outSeq, c.peerAcked = d.InSeq, d.OutSeq, d.OutSeq
	}
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
// asks to resume its session: ServerConfig.Session looks it up and
// decides (Ceph's handle_reconnect). Without one there is never a
// session to resume: as Ceph does when it finds no existing connection,
// SESSION_RESET with full set, and we keep waiting in SESSION_ACCEPTING;
// the client drops its session state and sends CLIENT_IDENT. Faulting
// instead would leave the client retrying its reconnect forever.
func (c *Conn) handleReconnect(p []byte) error {
	r, err := payload(p, "SESSION_RECONNECT", wire2.DecodeReconnect)
	if err != nil {
		return err
	}
	if err := c.sessionRequest(); err != nil {
		return err
	}
	if noPeerAddr(r.Addrs) {
		return ErrNoPeerAddrs
	}
	if c.server.Session == nil || c.server.Lossy(c.peerType) {
		return c.answer(Decision{Reply: ReplyReset, Full: true})
	}
	c.peer.Name = wire.EntityName{Type: c.peerType}
	c.peer.Addrs = r.Addrs
	c.peer.GlobalSeq = r.GlobalSeq
	c.peer.Cookie = r.ClientCookie
	c.peer.Lossy = false
	c.peer.Resumed, c.peer.MsgSeq, c.peer.ConnectSeq = true, r.MsgSeq, r.ConnectSeq
	d := c.server.Session(SessionRequest{Reconnect: true, Peer: c.peer,
		ServerCookie: r.ServerCookie, ConnectSeq: r.ConnectSeq, MsgSeq: r.MsgSeq})
	if d.Reply != ReplyAccept {
		return c.answer(d)
	}
	c.inSeq, c.outSeq, c.peerAcked = d.InSeq, d.OutSeq, d.OutSeq
	c.sendControl(wire2.TagSessionReconnectOK, wire2.AppendU64(c.scratch(), d.InSeq))
	c.established()
	return nil
}

// answer sends a refusal of a session request and keeps waiting for the
// peer's next CLIENT_IDENT or SESSION_RECONNECT, or faults.
func (c *Conn) answer(d Decision) error {
	switch d.Reply {
	case ReplyReset:
		c.sendControl(wire2.TagSessionReset, wire2.AppendSessionReset(c.scratch(), wire2.SessionReset{Full: d.Full}))
	case ReplyRetry:
		c.sendControl(wire2.TagSessionRetry, wire2.AppendU64(c.scratch(), d.Seq))
	case ReplyRetryGlobal:
		c.sendControl(wire2.TagSessionRetryGlobal, wire2.AppendU64(c.scratch(), d.Seq))
	case ReplyWait:
		c.sendControl(wire2.TagWait, nil)
	case ReplyRefuse:
		if d.Err == nil {
			return errors.New("session refused")
		}
		return d.Err
	default:
		return fmt.Errorf("session decision %d", d.Reply)
	}
	return nil
}

// noPeerAddr reports an ident (CLIENT_IDENT, SESSION_RECONNECT) whose
// first address is missing or blank: the peer must say where it is.
func noPeerAddr(addrs []wire.EntityAddr) bool {
	return len(addrs) == 0 || addrs[0].Equal(wire.EntityAddr{})
}

// sessionRequest counts a CLIENT_IDENT or SESSION_RECONNECT.
func (c *Conn) sessionRequest() error {
	c.sessTries++
	if c.sessTries > maxSessionRequests {
		return fmt.Errorf("%w: %d", ErrSessionAttempts, c.sessTries)
	}
	return nil
}
