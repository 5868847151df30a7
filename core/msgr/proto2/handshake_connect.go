package proto2

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// The connector's side of the handshake (ProtocolV2's client methods):
// banner → HELLO → AUTH_REQUEST → AUTH_DONE → AUTH_SIGNATURE both ways →
// CLIENT_IDENT → SERVER_IDENT.

func (c *Conn) handleHello(p []byte) error {
	h, err := payload(p, "HELLO", wire2.DecodeHello)
	if err != nil {
		return err
	}
	c.peer.AddrForMe = h.PeerAddr
	if c.role == Server {
		return c.acceptHello(h)
	}
	if h.EntityType != c.client.PeerType {
		return fmt.Errorf("%w: dialled a %s, HELLO says %s", ErrPeerType, c.client.PeerType, h.EntityType)
	}
	c.learnAddrs(h.PeerAddr)
	c.sendControl(wire2.TagAuthRequest, wire2.AppendAuthRequest(c.scratch(), wire2.AuthRequest{
		Method:         wire2.AuthNone,
		PreferredModes: []uint32{wire2.ConModeCRC}, // never secure: see ErrSecureMode
		Payload:        c.authNonePayload(),
	}))
	c.state = StateAuthConnecting
	return nil
}

// learnAddrs completes our addresses with the IP the peer sees, as Ceph's
// AsyncMessenger::learned_addr: only blank IPs are replaced, each keeping
// its type, port and nonce.
func (c *Conn) learnAddrs(seen wire.EntityAddr) {
	if seen.IsBlankIP() {
		return
	}
	addrs := make([]wire.EntityAddr, len(c.client.Addrs))
	for i, a := range c.client.Addrs {
		if a.IsBlankIP() {
			a.Family, a.IP, a.Flowinfo, a.ScopeID = seen.Family, seen.IP, seen.Flowinfo, seen.ScopeID
		}
		addrs[i] = a
	}
	c.client.Addrs = addrs
}

// authNonePayload is what MonClient::get_auth_request sends with auth
// none: to a monitor, AUTH_MODE_MON with our name and global_id; to any
// other daemon, the auth none authorizer (whose struct_v 1 doubles as
// AUTH_MODE_AUTHORIZER).
func (c *Conn) authNonePayload() []byte {
	if c.client.PeerType == wire.EntityMon {
		return wire2.AppendMonAuthRequest(nil, wire2.MonAuthRequest{
			EntityType: c.client.EntityType, ID: c.client.AuthID, GlobalID: c.client.GlobalID})
	}
	return wire.AppendAuthNone(nil, wire.AuthNoneAuthorizer{
		EntityType: uint32(c.client.EntityType), ID: c.client.AuthID, GlobalID: c.client.GlobalID})
}

func (c *Conn) handleAuthBadMethod(p []byte) error {
	r, err := payload(p, "AUTH_BAD_METHOD", wire2.DecodeAuthBadMethod)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: method %d refused (result %d), server allows methods %v with modes %v",
		ErrAuthRefused, r.Method, r.Result, r.AllowedMethods, r.AllowedModes)
}

func (c *Conn) handleAuthDone(p []byte) error {
	d, err := payload(p, "AUTH_DONE", wire2.DecodeAuthDone)
	if err != nil {
		return err
	}
	switch d.ConMode {
	case wire2.ConModeCRC:
	case wire2.ConModeSecure:
		return fmt.Errorf("server chose it though we offered crc only: %w", ErrSecureMode)
	default:
		return fmt.Errorf("server chose connection mode %d, we offered crc (%d) only", d.ConMode, wire2.ConModeCRC)
	}
	if d.GlobalID == 0 && c.client.PeerType == wire.EntityMon {
		return fmt.Errorf("monitor assigned global_id 0")
	}
	c.peer.GlobalID = d.GlobalID
	c.sendSignature()
	c.state = StateAuthConnectingSign
	return nil
}

// sendSignature writes AUTH_SIGNATURE. Ceph signs what it received from
// the peer's banner up to the end of authentication with HMAC-SHA256 under
// the session key, but auth none yields no session key, and then Ceph
// sends the zero digest (ProtocolV2::handle_auth_done, finish_auth); the
// captured ceph-mon 16.2 frames carry exactly that. So no pre-auth bytes
// are kept.
func (c *Conn) sendSignature() {
	c.sendControl(wire2.TagAuthSignature, wire2.AppendAuthSignature(c.scratch(),
		wire2.AuthSignature{Sig: wire2.Signature(nil, nil)}))
}

// handleAuthSignature checks the peer's signature of what we sent: under
// auth none, the zero digest (ProtocolV2::handle_auth_signature compares
// it with its own digest of its txbuf, which is zero without a key).
func (c *Conn) handleAuthSignature(p []byte) error {
	s, err := payload(p, "AUTH_SIGNATURE", wire2.DecodeAuthSignature)
	if err != nil {
		return err
	}
	if want := wire2.Signature(nil, nil); s.Sig != want {
		return fmt.Errorf("%w: got %x, want %x (auth none has no session key)", ErrBadSignature, s.Sig, want)
	}
	if c.role == Server {
		c.state = StateSessionAccepting
		return nil
	}
	if c.serverCookie != 0 {
		// A lossless session that opened before: resume it (Ceph's
		// handle_auth_done with a server_cookie).
		c.sendReconnect()
		c.state = StateSessionReconnecting
		return nil
	}
	c.sendClientIdent()
	c.state = StateSessionConnecting
	return nil
}

func (c *Conn) sendReconnect() {
	c.sendControl(wire2.TagSessionReconnect, wire2.AppendReconnect(c.scratch(), wire2.Reconnect{
		Addrs: c.client.Addrs, ClientCookie: c.cookie, ServerCookie: c.serverCookie,
		GlobalSeq: c.globalSeq, ConnectSeq: c.connectSeq, MsgSeq: c.inSeq,
	}))
}

// handleReconnectOK resumes the session: the server has every message up
// to msg_seq, the caller resends the rest with their seqs (so our out_seq
// is msg_seq), and messages at or below our in_seq are dropped.
func (c *Conn) handleReconnectOK(p []byte) error {
	ms, err := payload(p, "SESSION_RECONNECT_OK", wire2.DecodeU64)
	if err != nil {
		return err
	}
	if ms < c.client.OutSeq || ms > c.client.SentSeq {
		// Above what we sent, or below what the server acknowledged
		// already (we no longer hold those messages to resend).
		return fmt.Errorf("%w: SESSION_RECONNECT_OK msg_seq %d, we sent up to %d and the peer acknowledged %d",
			ErrBadAck, ms, c.client.SentSeq, c.client.OutSeq)
	}
	c.outSeq, c.peerAcked = ms, ms
	c.peer.Resumed, c.peer.MsgSeq, c.peer.ConnectSeq = true, ms, c.connectSeq
	c.peer.Name = wire.EntityName{Type: c.peerType}
	c.peer.Cookie = c.serverCookie
	c.established()
	return nil
}

// handleRetry: our connect_seq is stale; retry above the server's.
func (c *Conn) handleRetry(p []byte) error {
	cs, err := payload(p, "SESSION_RETRY", wire2.DecodeU64)
	if err != nil {
		return err
	}
	c.connectSeq = cs + 1
	c.sendReconnect()
	return nil
}

// handleRetryGlobal: our global_seq is stale; retry with one above it.
func (c *Conn) handleRetryGlobal(p []byte) error {
	gs, err := payload(p, "SESSION_RETRY_GLOBAL", wire2.DecodeU64)
	if err != nil {
		return err
	}
	if f := c.client.GlobalSeqAbove; f != nil {
		c.globalSeq = f(gs)
	} else {
		c.globalSeq = gs + 1
	}
	c.sendReconnect()
	return nil
}

// handleSessionReset: the server has no session to resume (full: start
// a new one, everything reset, as Ceph's reset_session) or has not seen
// our session established (not full: only its server side restarts).
// Either way CLIENT_IDENT follows.
func (c *Conn) handleSessionReset(p []byte) error {
	r, err := payload(p, "SESSION_RESET", wire2.DecodeSessionReset)
	if err != nil {
		return err
	}
	c.serverCookie, c.connectSeq, c.inSeq = 0, 0, 0
	if r.Full {
		c.outSeq, c.peerAcked = 0, 0
		if c.client.ResetCookie != 0 {
			c.cookie = c.client.ResetCookie
		}
	}
	c.emit(Event{Kind: EventSessionReset, Full: r.Full})
	c.sendClientIdent()
	c.state = StateSessionConnecting
	return nil
}

func (c *Conn) sendClientIdent() {
	var flags, cookie uint64
	if c.client.Lossy {
		flags = wire2.FlagLossy
	} else {
		cookie = c.cookie
	}
	num := c.client.EntityNum
	if num < 0 {
		num = int64(c.peer.GlobalID)
	}
	c.sendControl(wire2.TagClientIdent, wire2.AppendClientIdent(c.scratch(), wire2.ClientIdent{
		Addrs: c.client.Addrs, TargetAddr: c.client.Target, GlobalID: num, GlobalSeq: c.globalSeq,
		SupportedFeatures: c.features, RequiredFeatures: c.required, Flags: flags, Cookie: cookie,
	}))
}

func (c *Conn) handleServerIdent(p []byte) error {
	si, err := payload(p, "SERVER_IDENT", wire2.DecodeServerIdent)
	if err != nil {
		return err
	}
	// Ceph forgives a mismatch nowhere else: we may have dialled an
	// address from mon_host, but the server must list it.
	if !containsAddr(si.Addrs, c.client.Target) {
		return fmt.Errorf("%w: server identifies as %s, without %s", ErrTargetAddr, addrsString(si.Addrs), c.client.Target.TypedString())
	}
	// Ceph's client does not check this (a Ceph server would have sent
	// IDENT_MISSING_FEATURES first); we do, so a bad SERVER_IDENT cannot
	// open a session neither side can serve.
	if missing := si.RequiredFeatures &^ c.features; missing != 0 {
		return fmt.Errorf("%w: server requires %#x that we lack", ErrMissingFeatures, missing)
	}
	c.identified(si.GlobalID, si.Addrs, si.GlobalSeq, si.SupportedFeatures, si.Cookie, si.Flags&wire2.FlagLossy != 0)
	c.established()
	return nil
}

func (c *Conn) handleIdentMissingFeatures(p []byte) error {
	missing, err := payload(p, "IDENT_MISSING_FEATURES", wire2.DecodeU64)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: server requires %#x that we lack", ErrMissingFeatures, missing)
}

// identified records what the peer's ident says of it.
func (c *Conn) identified(num int64, addrs []wire.EntityAddr, gseq, features, cookie uint64, lossy bool) {
	c.peer.Name = wire.EntityName{Type: c.peerType, Num: num}
	c.peer.Addrs = addrs
	c.peer.GlobalSeq = gseq
	c.peer.PeerFeatures = features
	c.peer.Features = features & c.features
	c.peer.Cookie = cookie
	c.peer.Lossy = lossy
	c.peer.Resumed, c.peer.MsgSeq, c.peer.ConnectSeq = false, 0, 0
}

// containsAddr is Ceph's entity_addrvec_t::contains: exact equality.
func containsAddr(v []wire.EntityAddr, a wire.EntityAddr) bool {
	for _, x := range v {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

func addrsString(v []wire.EntityAddr) string {
	s := "["
	for i, a := range v {
		if i > 0 {
			s += ","
		}
		s += a.TypedString()
	}
	return s + "]"
}
