package protocol

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// msgr2 sockets. A sock whose p2 is set runs a proto2.Conn (msgr2.1, crc
// mode) instead of the msgr1 reader and writer: proto2 owns the frames
// and the handshake, the sock everything else a session needs, shared
// with msgr1 (engine callbacks, the session it is attached to, the four
// throttles, the body buffer and its progress timer, the batching
// writer, the handshake and idle timers, fault injection, counters).
//
// Lossy and lossless sessions. A lossless session outlives its TCP
// connections as an msgr1 one does (the Session's queues, seqs, fault
// policy, standby and back-off are shared): the written messages stay
// on the session's sent list until the peer's ACK (or a MESSAGE's
// ack_seq) covers them, and a fault requeues them. Its connector resumes
// it with SESSION_RECONNECT (the cookies both sides keep, global_seq,
// connect_seq, our in_seq), and the acceptor's decision (session2,
// Ceph's handle_reconnect and handle_existing_connection) either resumes
// it (SESSION_RECONNECT_OK with its in_seq: both resend what the other
// lacks, with the same seqs), asks for a retry (SESSION_RETRY,
// SESSION_RETRY_GLOBAL), resets it (SESSION_RESET) or tells the peer to
// wait for our own connection (WAIT). A lossy session closes on a fault.
//
// Reader states (sock.rs): rsV2Handshake feeds proto2 the banner and
// handshake frames until the session opens; in READY, rsV2Frame waits
// for a frame's 32-byte preamble and judges it with proto2.Conn.Peek: a
// MESSAGE takes the four throttles first (rsThrottle, for the
// front+middle+data the preamble claims, as Ceph's ProtocolV2 does),
// then its whole frame is copied into the message's own buffer (rsBody)
// and handed to proto2, whose message sections alias that buffer (one
// copy, as msgr1's body). A control frame is handed over from the
// engine's buffer when it is all there. A frame or banner that needs
// more than assembleAbove bytes is assembled in a buffer of ours
// (rsBody) whatever its kind, since an engine's read buffer may be as
// small as engine.MinReadBufferSize.

// assembleAbove: a frame needing more bytes than this is assembled in a
// buffer of ours instead of waiting in the engine's read buffer, which
// may hold no more (engine.MinReadBufferSize).
const assembleAbove = engine.MinReadBufferSize

// frameOverhead is a MESSAGE frame's size beyond its sections: preamble,
// header segment and its crc, epilogue.
const frameOverhead = wire2.PreambleLen + wire2.MsgHeader2Len + 4 + wire2.EpilogueLen

// errStale2 refuses a CLIENT_IDENT with a global_seq older than the one
// its session has seen: an old connection of the peer's, overtaken (Ceph
// stops it too).
var errStale2 = errors.New("stale msgr2 connection: its session has seen a newer global_seq from the peer")

// v2Limits are the frame limits of our msgr2 sockets.
func (ep *Endpoint) v2Limits() wire2.Limits {
	return wire2.Limits{MaxMessageBytes: ep.cfg.MaxMessageBytes}
}

// initClient2Locked makes k an msgr2 connector for s (s.mu held): its
// proto2 client is built now, since everything it needs is known before
// the dial.
func (k *sock) initClient2Locked(s *Session) error {
	cfg := &k.ep.cfg
	me := k.ep.Addr()
	if me.Port == 0 {
		// Not bound: Ceph's clients announce "any" with a blank IP that
		// the server's HELLO completes (learned_addr).
		me.Type = wire.AddrTypeAny
	}
	pc := proto2.ClientConfig{
		EntityType: cfg.Name.Type, AuthID: cfg.AuthNoneID, EntityNum: cfg.Name.Num,
		PeerType: s.peerType, Target: s.peerAddr, Addrs: []wire.EntityAddr{me},
		GlobalSeq: uint64(s.globalSeq), Lossy: s.policy.Lossy, CallerAcks: true,
		FeaturesSupported: s.policy.FeaturesSupported, FeaturesRequired: s.policy.FeaturesRequired,
		Limits: k.ep.v2Limits(),
	}
	if !s.policy.Lossy {
		if s.clientCookie == 0 && s.serverCookie == 0 {
			s.clientCookie = rand.Uint64() | 1 // a new session (Ceph's send_client_ident)
		}
		k.resetCookie = rand.Uint64() | 1
		sent := s.outSeq
		if n := len(s.requeued); n > 0 {
			sent = max(sent, s.requeued[n-1].Seq)
		}
		ep := k.ep
		pc.Cookie, pc.ServerCookie, pc.ConnectSeq = s.clientCookie, s.serverCookie, uint64(s.connectSeq)
		pc.InSeq, pc.OutSeq, pc.SentSeq, pc.ResetCookie = s.inSeq, s.outSeq, sent, k.resetCookie
		pc.GlobalSeqAbove = func(seen uint64) uint64 { return uint64(ep.bumpGlobalSeq(uint32(seen))) }
	}
	c, err := proto2.NewClient(pc)
	if err != nil {
		return err
	}
	k.p2 = c
	k.rs = rsV2Handshake
	return nil
}

// open2 is OnOpen for msgr2: an acceptor builds its proto2 server now
// that the socket's addresses are known; both send the banner at once.
func (k *sock) open2(c engine.Conn) {
	if k.p2 == nil {
		ep := k.ep
		cfg := &ep.cfg
		// CLIENT_IDENT's target must be exactly one of these: the
		// address the client dialled, and our msgr1 one if we have one.
		addrs := ep.serverIdentAddrs(c.LocalAddr())
		peer := wire.AddrFromNet(c.RemoteAddr(), 0)
		peer.Type = wire.AddrTypeMsgr2 // as Ceph's HELLO tells a client
		k.cookie2 = rand.Uint64() | 1
		p, err := proto2.NewServer(proto2.ServerConfig{
			EntityType: cfg.Name.Type, EntityNum: cfg.Name.Num, Addrs: addrs, PeerAddr: peer,
			GlobalID: ep.globalID.Add(1), GlobalSeq: uint64(ep.nextGlobalSeq()),
			Lossy:   func(t wire.EntityType) bool { return ep.Policy(t).Lossy },
			Session: k.session2, CallerAcks: true,
			Cookie: k.cookie2,
			// Per peer type, as Ceph's policy.features_required: a
			// client lacking one reads IDENT_MISSING_FEATURES.
			RequiredFor:       func(t wire.EntityType) uint64 { return ep.Policy(t).FeaturesRequired },
			FeaturesSupported: cfg.DefaultPolicy.FeaturesSupported,
			Limits:            ep.v2Limits(),
		})
		if err != nil {
			k.fault(k.protoErr(err))
			return
		}
		k.p2 = p
		k.rs = rsV2Handshake
	}
	k.write(k.p2.Output())
}

// readHandshake2 feeds the handshake to proto2 until the session opens.
func (k *sock) readHandshake2(in []byte) (int, error) {
	n, _, err := k.receive2(in)
	if err != nil || n > 0 {
		return n, err
	}
	if want := k.p2.Want(); want > assembleAbove {
		k.frameMsg = false
		k.startBody(want, false)
		return 0, nil
	}
	return 0, wire.ErrShort
}

// receive2 hands in to proto2 and acts on what it says: handshake output
// is written at once, READY output (keepalive acks) joins the control
// frames the writer sends next; the session opening attaches it. A
// message event is returned to the caller, which owns its buffer.
func (k *sock) receive2(in []byte) (int, *proto2.Event, error) {
	wasReady := k.p2.Established()
	n, err := k.p2.Receive(in)
	out := k.p2.Output()
	evs := k.p2.Events()
	// An acceptor's SERVER_IDENT waits for our own decision on the
	// session (policy, required features, a lossless session in the way,
	// a stopped endpoint: established2), as Ceph decides before
	// send_server_ident: a refused peer sees the close, never a session
	// opened and then reset.
	held := err == nil && !wasReady && k.accept && hasEstablished(evs)
	if len(out) > 0 && !held {
		if wasReady {
			k.ctl = append(k.ctlBuf(), out...)
		} else {
			k.write(out) // a refusal's last frame (AUTH_BAD_METHOD) too, before the close
		}
	}
	if err != nil {
		if errors.Is(err, proto2.ErrWait) && k.sess != nil {
			// The peer's own connection to us wins a race: back off
			// (faultLocked), the accept on our side usually settles it.
			s := k.sess
			s.mu.Lock()
			if s.sock == k {
				s.waitPending = true
			}
			s.mu.Unlock()
		}
		return n, nil, k.protoErr(err)
	}
	var msg *proto2.Event
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case proto2.EventEstablished:
			if err := k.established2(e.Peer); err != nil {
				return n, nil, err
			}
		case proto2.EventMessage:
			msg = e
		case proto2.EventKeepalive:
			k.ep.C.KeepalivesReceived.Add(1) // its ack is in the output above
		case proto2.EventKeepaliveAck:
			s := k.sess
			s.mu.Lock()
			s.lastKeepaliveAck = k.now()
			s.mu.Unlock()
		case proto2.EventAck:
			// The peer has everything up to e.Seq: free it (a lossy
			// session keeps nothing).
			s := k.sess
			s.mu.Lock()
			if s.sock == k {
				s.handleAckLocked(e.Seq)
			}
			s.mu.Unlock()
		case proto2.EventSessionReset:
			k.sessionReset2(e.Full)
		}
	}
	if held && len(out) > 0 {
		k.write(out) // proto2's output is valid until its next Receive
	}
	if !k.closed && k.p2.Established() && k.rs == rsV2Handshake {
		k.rs = rsV2Frame
	}
	return n, msg, nil
}

func hasEstablished(evs []proto2.Event) bool {
	for i := range evs {
		if evs[i].Kind == proto2.EventEstablished {
			return true
		}
	}
	return false
}

// established2 attaches the socket whose msgr2 session just opened: a
// connector to its session (resumed or new), an acceptor of a lossy
// session to a new one. A lossless acceptor was attached by session2
// already.
func (k *sock) established2(peer proto2.Peer) error {
	if k.accept && k.sess != nil {
		return nil // session2 attached it
	}
	if !peer.Resumed {
		if missing := k.ep.Policy(peer.Name.Type).FeaturesRequired &^ peer.PeerFeatures; missing != 0 {
			return k.protoErr(fmt.Errorf("%w: %s lacks %#x that our policy requires", proto2.ErrMissingFeatures, peer.Name, missing))
		}
		k.peerName = peer.Name
	}
	if k.accept {
		return k.accepted2(peer)
	}
	// Only a connector learns its IP from what the peer sees, as our
	// msgr1 connectors do: an acceptor's address is the one it bound, not
	// what a client claims.
	k.ep.learnAddr(peer.AddrForMe)
	s := k.sess
	var ev events
	s.mu.Lock()
	if s.sock != k {
		s.mu.Unlock()
		return k.protoErr(ErrReplaced)
	}
	if peer.Resumed {
		// SESSION_RECONNECT_OK: the peer has everything up to MsgSeq;
		// the rest of what we sent is resent with its seq (proto2
		// checked MsgSeq lies between what the peer acknowledged and
		// what we sent, so out_seq lands on it).
		s.discardRequeuedUpToLocked(peer.MsgSeq)
		s.connectSeq = uint32(peer.ConnectSeq)
		s.ackedIn = s.inSeq // SESSION_RECONNECT told the peer
		k.peerName = s.peerName
	} else {
		// SERVER_IDENT: a new session (the server's choice of lossy or
		// lossless is adopted, as Ceph's client does).
		s.policy.Lossy = peer.Lossy
		s.serverCookie = peer.Cookie
		s.connectSeq = 0
		s.peerGlobalSeq = uint32(peer.GlobalSeq)
		s.features = peer.Features
		s.peerName = peer.Name
	}
	k.becomeOpenLocked(s, &ev)
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
	return nil
}

// sessionReset2 applies a SESSION_RESET our connector got (proto2 has
// reset its side and sent CLIENT_IDENT): full, the session restarts as
// Ceph's reset_session (queues dropped, seqs and cookies anew, the
// dispatcher told of a remote reset); not full, only the peer's side
// (in_seq, connect_seq, the server cookie) restarts.
func (k *sock) sessionReset2(full bool) {
	s := k.sess
	var ev events
	s.mu.Lock()
	if s.sock == k {
		if full {
			s.resetSessionLocked()
			s.clientCookie = k.resetCookie
			ev.add(EventRemoteReset, s)
		} else {
			s.inSeq, s.ackedIn, s.connectSeq, s.serverCookie = 0, 0, 0, 0
		}
	}
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
}

// peerAddr2 is the address a peer's ident declares, its blank IP (an
// unbound client's) taken from the socket.
func (k *sock) peerAddr2(addr wire.EntityAddr) wire.EntityAddr {
	if addr.IsBlankIP() {
		// Keep the declared type, port and nonce, take the IP from the socket.
		seen := wire.AddrFromNet(k.lc.RemoteAddr(), 0)
		addr.IP, addr.Family = seen.IP, seen.Family
	}
	return addr
}

// accepted2 opens a new session for an accepted msgr2 socket. A lossy
// server registered by peer address (RegisterLossyClients) replaces an
// earlier lossy session of the same peer, whose reset is reported first,
// as Ceph's ProtocolV2 acceptor stops an existing lossy connection; a
// stateless server registers nothing (msgr1's §11.2 step 6).
func (k *sock) accepted2(peer proto2.Peer) error {
	ep := k.ep
	pol := ep.Policy(peer.Name.Type)
	addr := k.peerAddr2(peer.Addrs[0])
	s := newSession(ep, peer.Name.Type, addr, pol, false)
	s.v2.Store(true)
	register := !(pol.Server && !pol.RegisterLossyClients)
	var old *Session
	ep.mu.Lock()
	if ep.stopped {
		ep.mu.Unlock()
		return k.protoErr(ErrSessionClosed)
	}
	if register {
		if e := ep.conns[s.regKey]; e != nil && !e.isClosedFast() {
			if !e.Lossy() {
				ep.mu.Unlock()
				return k.protoErr(fmt.Errorf("a lossless session with %s exists", addr))
			}
			old = e
		}
		ep.conns[s.regKey] = s
	}
	ep.all[s] = struct{}{}
	delete(ep.socks, k)
	// Attach before the registry lock goes (its order allows it), so no
	// one (Stop, MarkDown) sees the new session without its socket.
	var ev events
	s.mu.Lock()
	ep.mu.Unlock()
	k.sess = s
	s.sock = k
	s.peerGlobalSeq = uint32(peer.GlobalSeq)
	s.features = peer.Features
	s.peerName = peer.Name
	k.becomeOpenLocked(s, &ev)
	s.mu.Unlock()
	if old != nil {
		var oldEv events
		old.mu.Lock()
		if old.state != stClosed {
			old.closeLocked()
			oldEv.add(EventReset, old)
		}
		old.mu.Unlock()
		ep.unregister(old) // only from ep.all: its registry entry is s now
		oldEv.emit(ep.hooks)
	}
	ev.emit(ep.hooks)
	return nil
}
