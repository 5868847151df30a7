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
// Only lossy sessions: proto2 has no SESSION_RECONNECT yet, so a
// lossless session could not outlive its TCP connection, and a lossless
// policy is refused (ErrV2Lossless) rather than silently weakened. A
// fault therefore closes the session, as for a lossy msgr1 session.
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

// ErrV2Lossless refuses an msgr2 session whose policy is lossless.
var ErrV2Lossless = errors.New("msgr2 lossless sessions need SESSION_RECONNECT, not supported yet")

// v2Limits are the frame limits of our msgr2 sockets.
func (ep *Endpoint) v2Limits() wire2.Limits {
	return wire2.Limits{MaxMessageBytes: ep.cfg.MaxMessageBytes}
}

// acceptPeer2 is proto2's AcceptPeer for our acceptors: a peer type whose
// policy is lossless is refused at HELLO.
func (ep *Endpoint) acceptPeer2(t wire.EntityType) error {
	if !ep.Policy(t).Lossy {
		return fmt.Errorf("the policy for %s peers is lossless: %w", t, ErrV2Lossless)
	}
	return nil
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
	c, err := proto2.NewClient(proto2.ClientConfig{
		EntityType: cfg.Name.Type, AuthID: cfg.AuthNoneID, EntityNum: cfg.Name.Num,
		PeerType: s.peerType, Target: s.peerAddr, Addrs: []wire.EntityAddr{me},
		GlobalSeq: uint64(s.globalSeq), Lossy: true,
		FeaturesSupported: s.policy.FeaturesSupported, FeaturesRequired: s.policy.FeaturesRequired,
		Limits: k.ep.v2Limits(),
	})
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
		p, err := proto2.NewServer(proto2.ServerConfig{
			EntityType: cfg.Name.Type, EntityNum: cfg.Name.Num, Addrs: addrs, PeerAddr: peer,
			GlobalID: ep.globalID.Add(1), GlobalSeq: uint64(ep.nextGlobalSeq()),
			Lossy:      func(t wire.EntityType) bool { return ep.Policy(t).Lossy },
			AcceptPeer: ep.acceptPeer2,
			Cookie:     rand.Uint64() | 1,
			// Per peer type, required features are checked once the
			// peer's type and features are known (established2).
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
			k.ctl = append(k.ctl, out...)
		} else {
			k.write(out) // a refusal's last frame (AUTH_BAD_METHOD) too, before the close
		}
	}
	if err != nil {
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
			// Lossy: nothing is kept for resend, so nothing to trim.
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
// connector to its session, an acceptor to a new one.
func (k *sock) established2(peer proto2.Peer) error {
	if !peer.Lossy {
		// Only a connector can get here: our acceptors refuse lossless
		// policies at HELLO, and SERVER_IDENT carries the server's choice.
		return k.protoErr(fmt.Errorf("the server chose a lossless session: %w", ErrV2Lossless))
	}
	if missing := k.ep.Policy(peer.Name.Type).FeaturesRequired &^ peer.PeerFeatures; missing != 0 {
		return k.protoErr(fmt.Errorf("%w: %s lacks %#x that our policy requires", proto2.ErrMissingFeatures, peer.Name, missing))
	}
	k.peerName = peer.Name
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
	s.peerGlobalSeq = uint32(peer.GlobalSeq)
	s.features = peer.Features
	k.becomeOpenLocked(s, &ev)
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
	return nil
}

// accepted2 opens a new session for an accepted msgr2 socket. A lossy
// server registered by peer address (RegisterLossyClients) replaces an
// earlier lossy session of the same peer, whose reset is reported first,
// as Ceph's ProtocolV2 acceptor stops an existing lossy connection; a
// stateless server registers nothing (msgr1's §11.2 step 6).
func (k *sock) accepted2(peer proto2.Peer) error {
	ep := k.ep
	pol := ep.Policy(peer.Name.Type)
	if !pol.Lossy {
		return k.protoErr(fmt.Errorf("the policy for %s peers is lossless: %w", peer.Name.Type, ErrV2Lossless))
	}
	addr := peer.Addrs[0]
	if addr.IsBlankIP() {
		// Keep the declared type, port and nonce, take the IP from the socket.
		seen := wire.AddrFromNet(k.lc.RemoteAddr(), 0)
		addr.IP, addr.Family = seen.IP, seen.Family
	}
	s := newSession(ep, peer.Name.Type, addr, pol, false)
	s.v2 = true
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
