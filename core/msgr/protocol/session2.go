package protocol

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// session2 is proto2's ServerConfig.Session for our acceptors: a lossless
// peer's CLIENT_IDENT or SESSION_RECONNECT, decided against the registry
// as Ceph's ProtocolV2 does (handle_existing_connection, handle_reconnect)
// and, when accepted, the socket attached to the session there and then:
// a new one, or an existing one whose socket it replaces (Ceph's
// reuse_connection). It runs on the socket's loop inside proto2's
// Receive, with no lock held; the decision and the attach happen under
// the registry's and the session's locks, so no other socket of the
// peer's can slip in between (Ceph's "replacing" flag).
func (k *sock) session2(req proto2.SessionRequest) proto2.Decision {
	ep := k.ep
	peer := req.Peer
	pol := ep.Policy(peer.Name.Type)
	if !req.Reconnect {
		if missing := pol.FeaturesRequired &^ peer.PeerFeatures; missing != 0 {
			return refuse2(fmt.Errorf("%w: %s lacks %#x that our policy requires", proto2.ErrMissingFeatures, peer.Name, missing))
		}
	}
	addr := k.peerAddr2(peer.Addrs[0])
	var ev events
	defer ev.emit(ep.hooks) // after every lock is released (deferred calls run last-in first-out)
	ep.mu.Lock()
	for {
		if ep.stopped {
			ep.mu.Unlock()
			return refuse2(ErrSessionClosed)
		}
		e := ep.conns[addr.Key()]
		if e == nil || e.v2.Load() {
			break
		}
		// An msgr1 session with the peer's address: Ceph marks it down
		// for the msgr2 one.
		ep.mu.Unlock()
		e.MarkDown()
		ep.mu.Lock()
	}
	e := ep.conns[addr.Key()]
	if e != nil {
		e.mu.Lock()
		switch {
		case e.state == stClosed:
			e.mu.Unlock()
			e = nil
		case e.policy.Lossy && !req.Reconnect:
			// Not resumable: Ceph stops a lossy existing connection in
			// favour of the new one.
			e.closeLocked()
			ev.add(EventReset, e)
			delete(ep.all, e) // its registry entry goes to the new session
			e.mu.Unlock()
			e = nil
		}
	}
	if e == nil {
		if req.Reconnect {
			ep.mu.Unlock()
			// No session to resume (never had it, or forgotten: the
			// standby timeout, our restart): the peer starts anew.
			return proto2.Decision{Reply: proto2.ReplyReset, Full: true}
		}
		connector := !pol.Server && addr.Port != 0 && addr.Type == wire.AddrTypeMsgr2
		s := newSession(ep, peer.Name.Type, addr, pol, connector)
		s.v2.Store(true)
		ep.conns[s.regKey] = s
		ep.all[s] = struct{}{}
		delete(ep.socks, k)
		s.mu.Lock()
		ep.mu.Unlock()
		d := k.reuse2Locked(s, req, &ev)
		s.mu.Unlock()
		return d
	}
	d, reuse := k.decide2Locked(e, req, addr, pol, &ev)
	if reuse {
		delete(ep.socks, k)
	}
	ep.mu.Unlock()
	if reuse {
		d = k.reuse2Locked(e, req, &ev)
	}
	e.mu.Unlock()
	return d
}

func refuse2(err error) proto2.Decision {
	return proto2.Decision{Reply: proto2.ReplyRefuse, Err: err}
}

// decide2Locked judges a request against the peer's existing session e
// (ep.mu and e.mu held): reuse it, or the reply that refuses it.
func (k *sock) decide2Locked(e *Session, req proto2.SessionRequest, addr wire.EntityAddr, pol Policy, ev *events) (proto2.Decision, bool) {
	peer := req.Peer
	me := k.ep.Addr()
	if req.Reconnect {
		sent := e.outSeq
		if n := len(e.requeued); n > 0 {
			sent = max(sent, e.requeued[n-1].Seq)
		}
		switch {
		case e.policy.Lossy:
			return proto2.Decision{Reply: proto2.ReplyReset, Full: true}, false // nothing to resume
		case e.clientCookie != peer.Cookie:
			// Another session of the peer's than ours: ours must have
			// been reset (or the peer's), so the peer starts anew.
			return proto2.Decision{Reply: proto2.ReplyReset, Full: pol.Resetcheck}, false
		case e.serverCookie == 0:
			// We never saw our session established (we were its client
			// and lost SERVER_IDENT): resume the establishment.
			return proto2.Decision{Reply: proto2.ReplyReset}, false
		case e.peerGlobalSeq > uint32(peer.GlobalSeq):
			return proto2.Decision{Reply: proto2.ReplyRetryGlobal, Seq: uint64(e.peerGlobalSeq)}, false
		case e.connectSeq > uint32(req.ConnectSeq):
			return proto2.Decision{Reply: proto2.ReplyRetry, Seq: uint64(e.connectSeq)}, false
		case e.connectSeq == uint32(req.ConnectSeq) && me.Less(addr) && !e.policy.Server:
			// Both sides are reconnecting: the connection from the lower
			// address wins, and ours is.
			return proto2.Decision{Reply: proto2.ReplyWait}, false
		case req.MsgSeq > sent:
			return refuse2(fmt.Errorf("%w: SESSION_RECONNECT msg_seq %d, we sent up to %d", proto2.ErrBadAck, req.MsgSeq, sent)), false
		}
		return proto2.Decision{}, true
	}
	switch {
	case e.peerGlobalSeq > uint32(peer.GlobalSeq):
		return refuse2(errStale2), false
	case e.serverCookie != 0 && e.clientCookie != 0 && e.clientCookie != peer.Cookie:
		// A new session of a peer we had one with: it restarted.
		if pol.Resetcheck {
			e.resetSessionLocked()
			ev.add(EventRemoteReset, e)
		}
		return proto2.Decision{}, true
	case e.clientCookie == peer.Cookie, e.state == stOpen, e.state == stStandby:
		// Its establishment was interrupted (same cookie), or a session
		// we hold for it: take it over.
		return proto2.Decision{}, true
	case addr.Less(me) || e.policy.Server:
		// Both sides are connecting: the connection from the lower
		// address wins, and the peer's is; a server never waits.
		return proto2.Decision{}, true
	}
	// Ours wins: make sure it goes through (the peer has something to
	// send us), and the peer waits for it.
	switch e.state {
	case stBackoff:
		e.connectLocked()
	case stStandby:
		e.kickLocked()
	}
	return proto2.Decision{Reply: proto2.ReplyWait}, false
}

// reuse2Locked attaches this socket to s (s.mu held), replacing a socket
// it had, and opens it: resumed (SESSION_RECONNECT: everything after the
// peer's msg_seq is resent) or a new establishment of the peer's
// (CLIENT_IDENT: the peer's numbering restarts, ours goes on).
func (k *sock) reuse2Locked(s *Session, req proto2.SessionRequest, ev *events) proto2.Decision {
	peer := req.Peer
	k.attachLocked(s)
	s.v2.Store(true)
	s.peerGlobalSeq = uint32(peer.GlobalSeq)
	if req.Reconnect {
		s.connectSeq = uint32(req.ConnectSeq)
		s.discardRequeuedUpToLocked(req.MsgSeq)
		k.peerName = s.peerName
	} else {
		s.clientCookie, s.serverCookie = peer.Cookie, k.cookie2
		s.connectSeq = 0
		s.features = peer.Features
		s.peerName = peer.Name
		k.peerName = peer.Name
		s.inSeq = 0
		s.discardRequeuedUpToLocked(0)
	}
	s.ackedIn = s.inSeq
	k.becomeOpenLocked(s, ev)
	return proto2.Decision{Reply: proto2.ReplyAccept, InSeq: s.inSeq, OutSeq: s.outSeq}
}
