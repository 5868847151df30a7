package protocol

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// readAcceptBanner reads the peer's banner and address (§5, server steps 2–4).
func (k *sock) readAcceptBanner(in []byte) (int, error) {
	n, err := wire.DecodeBanner(in)
	if err != nil {
		if err == wire.ErrShort {
			return 0, err
		}
		return 0, k.protoErr(err)
	}
	a, m, err := wire.DecodeAddr(in[n:])
	if err == wire.ErrShort {
		return 0, err
	}
	if err != nil {
		return 0, k.protoErr(err)
	}
	if a.IsBlankIP() {
		// Keep the declared port and nonce, take the IP from the socket.
		seen := wire.AddrFromNet(k.lc.RemoteAddr(), 0)
		a.IP, a.Family, a.Type = seen.IP, seen.Family, wire.AddrTypeLegacy
	}
	k.peerAddr = a
	k.rs = rsAcceptConnect
	return n + m, nil
}

// readConnect reads a connect message and its authorizer, then decides.
func (k *sock) readConnect(in []byte) (int, error) {
	cm, n, err := wire.DecodeConnect(in)
	if err != nil {
		return 0, err
	}
	if cm.AuthLen > wire.MaxAuthorizerLen {
		return 0, k.protoErr(fmt.Errorf("authorizer of %d bytes exceeds %d", cm.AuthLen, wire.MaxAuthorizerLen))
	}
	end := n + int(cm.AuthLen)
	if len(in) < end {
		return 0, wire.ErrShort
	}
	return end, k.handleConnect(cm, in[n:end])
}

// verifyAuthorizer accepts no authorizer (except from a MON peer when we are
// a mon, as Ceph does) and a well-formed AUTH_NONE one; cephx is not spoken.
func (k *sock) verifyAuthorizer(peer wire.EntityType, cm wire.Connect, blob []byte) bool {
	switch cm.AuthProtocol {
	case wire.AuthUnknown:
		return len(blob) == 0 && !(peer == wire.EntityMon && k.ep.cfg.Name.Type == wire.EntityMon)
	case wire.AuthNone:
		_, _, err := wire.DecodeAuthNone(blob)
		return err == nil
	}
	return false
}

// handleConnect is the acceptor's decision procedure (§11.2).
func (k *sock) handleConnect(cm wire.Connect, blob []byte) error {
	ep := k.ep
	peerType := wire.EntityType(cm.HostType)
	pol := ep.Policy(peerType)
	k.connect = cm
	reply := wire.ConnectReply{ProtocolVersion: ProtocolVersion(ep.cfg.Name.Type, peerType, false)}
	refuse := func(tag wire.Tag) error {
		reply.Tag = tag
		reply.Features = cm.Features&pol.FeaturesSupported | pol.FeaturesRequired
		k.write(wire.AppendConnectReply(nil, reply))
		return nil // stay in rsAcceptConnect: the peer may send another connect (§11.2 step 10)
	}
	if cm.ProtocolVersion != reply.ProtocolVersion {
		ep.logf("msgr: accept %s: protocol version %d, want %d: BADPROTOVER", k.peerString(), cm.ProtocolVersion, reply.ProtocolVersion)
		return refuse(wire.TagBadProtoVer)
	}
	if pol.FeaturesRequired&^cm.Features != 0 {
		return refuse(wire.TagFeatures)
	}
	if !k.verifyAuthorizer(peerType, cm, blob) {
		return refuse(wire.TagBadAuthorizer)
	}

	var ev events
	defer ev.emit(ep.hooks)
	if pol.Server && pol.Lossy && !pol.RegisterLossyClients {
		// Open at once, no lookup (§11.2 step 6).
		s := newSession(ep, peerType, k.peerAddr, pol, false)
		ep.mu.Lock()
		ep.all[s] = struct{}{}
		delete(ep.socks, k)
		ep.mu.Unlock()
		s.mu.Lock()
		k.openLocked(s, cm, false, &ev)
		s.mu.Unlock()
		return nil
	}

	ep.mu.Lock()
	if ep.stopped {
		ep.mu.Unlock()
		return k.protoErr(ErrSessionClosed)
	}
	key := k.peerAddr.Key()
	e := ep.conns[key]
	if e == nil || e.isClosedFast() {
		if cm.ConnectSeq > 0 {
			ep.mu.Unlock()
			return refuse(wire.TagResetSession) // §11.2 step 9: no memory of that session
		}
		s := newSession(ep, peerType, k.peerAddr, pol, !pol.Server && k.peerAddr.Port != 0)
		ep.conns[key] = s
		ep.all[s] = struct{}{}
		delete(ep.socks, k)
		s.mu.Lock()
		ep.mu.Unlock()
		k.openLocked(s, cm, false, &ev)
		s.mu.Unlock()
		return nil
	}
	e.mu.Lock()
	tag, replace, resetFromPeer := k.decideLocked(e, cm, pol, &ev)
	if replace {
		delete(ep.socks, k)
	}
	ep.mu.Unlock()
	defer e.mu.Unlock()
	if !replace {
		reply.Tag = tag
		reply.Features = cm.Features&pol.FeaturesSupported | pol.FeaturesRequired
		switch tag {
		case wire.TagRetryGlobal:
			reply.GlobalSeq = e.peerGlobalSeq
		case wire.TagRetrySession:
			reply.ConnectSeq = e.connectSeq + 1
		}
		k.write(wire.AppendConnectReply(nil, reply))
		return nil
	}
	k.openLocked(e, cm, resetFromPeer, &ev)
	return nil
}

// isClosedFast reads the state under the session lock (ep.mu is held; the
// order ep.mu → Session.mu is allowed).
func (s *Session) isClosedFast() bool { return s.isClosed() }

// decideLocked applies §11.2 step 8 to an existing session e (ep.mu and
// e.mu held). It returns the reply tag for a refusal, or replace=true.
func (k *sock) decideLocked(e *Session, cm wire.Connect, pol Policy, ev *events) (tag wire.Tag, replace, resetFromPeer bool) {
	switch {
	case cm.GlobalSeq < e.peerGlobalSeq:
		return wire.TagRetryGlobal, false, false
	case e.policy.Lossy:
		// A lossy session is not resumed: drop it and start afresh.
		e.resetSessionLocked()
		e.connectSeq = 0
		ev.add(EventReset, e)
		return 0, true, false
	case cm.ConnectSeq == 0 && e.connectSeq > 0:
		// The peer restarted (reset from peer).
		if pol.Resetcheck {
			e.resetSessionLocked()
			ev.add(EventRemoteReset, e)
		}
		return 0, true, true
	case cm.ConnectSeq < e.connectSeq:
		return wire.TagRetrySession, false, false
	case cm.ConnectSeq == e.connectSeq:
		if e.state == stOpen || e.state == stStandby {
			if pol.Resetcheck && e.connectSeq == 0 {
				return 0, true, false
			}
			return wire.TagRetrySession, false, false
		}
		// Both sides are connecting: the attempt initiated by the lower
		// address wins (§11.4); a server never waits.
		if k.peerAddr.Less(k.ep.legacyAddr()) || e.policy.Server {
			return 0, true, false
		}
		if e.state == stBackoff {
			// Nudge our own attempt so the peer's WAIT ends in a session.
			e.connectLocked()
		}
		return wire.TagWait, false, false
	default: // cm.ConnectSeq > e.connectSeq
		if pol.Resetcheck && e.connectSeq == 0 {
			return wire.TagResetSession, false, false
		}
		return 0, true, false
	}
}

// attachLocked makes this socket s's (s.mu held), msgr1 or msgr2: a
// previous socket of s is closed (replace: the session keeps its queues
// and sequence numbers) and what it had sent unacknowledged is queued
// again, to go out after the handshake.
func (k *sock) attachLocked(s *Session) {
	if old := s.sock; old != nil && old != k {
		s.sock = nil
		if old.c != nil {
			_ = old.c.Close()
		}
	}
	s.stopTimerLocked()
	s.requeueSentLocked()
	s.waitPending = false
	k.sess = s
	s.sock = k
}

// openLocked attaches this socket to s and replies READY or SEQ (§11.2
// "open"); s.mu is held. A previous socket of s is closed (replace: the
// session keeps its queues and sequence numbers).
func (k *sock) openLocked(s *Session, cm wire.Connect, resetFromPeer bool, ev *events) {
	ep := k.ep
	k.attachLocked(s)
	s.state = stConnecting
	s.connectSeq = cm.ConnectSeq + 1
	s.peerGlobalSeq = cm.GlobalSeq
	s.features = s.policy.FeaturesSupported & cm.Features
	reply := wire.ConnectReply{
		Tag:             wire.TagReady,
		Features:        s.policy.FeaturesSupported,
		GlobalSeq:       ep.nextGlobalSeq(),
		ConnectSeq:      s.connectSeq,
		ProtocolVersion: ProtocolVersion(ep.cfg.Name.Type, s.peerType, false),
	}
	if s.policy.Lossy {
		reply.Flags = wire.ConnectFlagLossy
	}
	if cm.Features&wire.FeatureReconnectSeq != 0 && !resetFromPeer {
		reply.Tag = wire.TagSeq
	} else {
		// READY restarts the peer's numbering (§11.2 "open").
		s.inSeq, s.ackedIn = 0, 0
		s.discardRequeuedUpToLocked(0)
	}
	b := wire.AppendConnectReply(make([]byte, 0, wire.ConnectReplyLen+8), reply)
	if reply.Tag == wire.TagSeq {
		b = wire.AppendSeq(b, s.inSeq)
		k.rs = rsAcceptSeq
	}
	k.write(b)
	if reply.Tag == wire.TagReady && !k.closed {
		k.becomeOpenLocked(s, ev)
	}
}

// readAcceptSeq completes the SEQ exchange (§7.3 step 3).
func (k *sock) readAcceptSeq(in []byte) (int, error) {
	seq, n, err := wire.DecodeSeq(in)
	if err != nil {
		return 0, err
	}
	s := k.sess
	var ev events
	s.mu.Lock()
	if s.sock != k {
		s.mu.Unlock()
		return n, k.protoErr(ErrReplaced)
	}
	s.discardRequeuedUpToLocked(seq)
	k.becomeOpenLocked(s, &ev)
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
	return n, nil
}
