package protocol

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// readServerBanner reads banner + server address + our address as seen
// (§5 client steps 2–7), then sends our address and the first connect.
func (k *sock) readServerBanner(in []byte) (int, error) {
	const need = wire.BannerLen + 2*wire.AddrLen
	n, err := wire.DecodeBanner(in)
	if err != nil {
		if err == wire.ErrShort {
			return 0, err
		}
		return 0, k.protoErr(err)
	}
	if len(in) < need {
		return 0, wire.ErrShort
	}
	paddr, _, err := wire.DecodeAddr(in[n:])
	if err != nil {
		return 0, k.protoErr(err)
	}
	seen, _, err := wire.DecodeAddr(in[n+wire.AddrLen:])
	if err != nil {
		return 0, k.protoErr(err)
	}
	s := k.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != k {
		return need, k.protoErr(ErrReplaced)
	}
	target := s.peerAddr
	ok := paddr.Equal(target) || (paddr.IsBlankIP() && paddr.Port == target.Port && paddr.Nonce == target.Nonce)
	if !s.nonceKnown {
		// Dialled by host:port only: accept the server's nonce and learn it.
		ok = paddr.Port == target.Port && (paddr.IsBlankIP() || paddr.IP == target.IP)
		if ok {
			s.peerAddr.Nonce = paddr.Nonce
			s.nonceKnown = true
		}
	}
	if !ok {
		return need, k.protoErr(fmt.Errorf("server announced %v, expected %v", paddr, target))
	}
	k.ep.learnAddr(seen)
	b := wire.AppendAddr(make([]byte, 0, wire.AddrLen+wire.ConnectLen+64), k.ep.legacyAddr())
	b = k.appendConnectLocked(b, s)
	k.rs = rsConnReply
	k.write(b)
	return need, nil
}

// appendConnectLocked builds a connect message for s's current attempt
// (§11.1 step 2). Daemons get an AUTH_NONE authorizer; a non-mon talking
// to a mon sends none (mons authenticate clients with MAuth, §12).
func (k *sock) appendConnectLocked(b []byte, s *Session) []byte {
	cfg := &k.ep.cfg
	cm := wire.Connect{
		Features:        s.policy.FeaturesSupported,
		HostType:        uint32(cfg.Name.Type),
		GlobalSeq:       s.globalSeq,
		ConnectSeq:      s.connectSeq,
		ProtocolVersion: ProtocolVersion(cfg.Name.Type, s.peerType, true),
	}
	if s.policy.Lossy {
		cm.Flags = wire.ConnectFlagLossy
	}
	var auth wire.AuthNoneAuthorizer
	withAuth := !(s.peerType == wire.EntityMon && cfg.Name.Type != wire.EntityMon)
	if withAuth {
		auth = wire.AuthNoneAuthorizer{EntityType: uint32(cfg.Name.Type), ID: cfg.AuthNoneID}
		cm.AuthProtocol = wire.AuthNone
		cm.AuthLen = uint32(auth.Len())
	}
	b = wire.AppendConnect(b, cm)
	if withAuth {
		b = wire.AppendAuthNone(b, auth)
	}
	return b
}

// readReply reads a connect_reply and acts on its tag (§11.1 steps 3–5).
func (k *sock) readReply(in []byte) (int, error) {
	r, n, err := wire.DecodeConnectReply(in)
	if err != nil {
		return 0, err
	}
	if r.AuthLen >= wire.MaxAuthorizerLen {
		return 0, k.protoErr(&ReplyError{Tag: uint8(r.Tag), Reason: fmt.Sprintf("authorizer reply of %d bytes", r.AuthLen)})
	}
	end := n + int(r.AuthLen)
	if r.Tag == wire.TagSeq {
		end += 8
	}
	if len(in) < end {
		return 0, wire.ErrShort
	}
	s := k.sess
	var ev events
	s.mu.Lock()
	err = k.handleReplyLocked(s, r, in[end-8:end], &ev)
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
	return end, err
}

func (k *sock) handleReplyLocked(s *Session, r wire.ConnectReply, seqBytes []byte, ev *events) error {
	if s.sock != k {
		return k.protoErr(ErrReplaced)
	}
	refused := func(reason string) error {
		return k.protoErr(&ReplyError{Tag: uint8(r.Tag), Reason: reason, Missing: r.Features &^ s.policy.FeaturesSupported})
	}
	switch r.Tag {
	case wire.TagFeatures:
		return refused(fmt.Sprintf("FEATURES: server requires %#x", r.Features))
	case wire.TagBadProtoVer:
		return refused(fmt.Sprintf("BADPROTOVER: server speaks %d", r.ProtocolVersion))
	case wire.TagBadAuthorizer:
		return refused("BADAUTHORIZER")
	case wire.TagResetSession:
		s.resetSessionLocked()
		ev.add(EventRemoteReset, s)
		k.write(k.appendConnectLocked(nil, s))
		return nil
	case wire.TagRetryGlobal:
		s.globalSeq = k.ep.bumpGlobalSeq(r.GlobalSeq)
		k.write(k.appendConnectLocked(nil, s))
		return nil
	case wire.TagRetrySession:
		if r.ConnectSeq <= s.connectSeq {
			// Ceph asserts here; we fault the socket instead.
			return refused(fmt.Sprintf("RETRY_SESSION with connect_seq %d <= %d", r.ConnectSeq, s.connectSeq))
		}
		s.connectSeq = r.ConnectSeq
		k.write(k.appendConnectLocked(nil, s))
		return nil
	case wire.TagWait:
		s.waitPending = true
		return k.protoErr(&ReplyError{Tag: uint8(r.Tag), Reason: "WAIT"})
	}
	if missing := s.policy.FeaturesRequired &^ r.Features; missing != 0 {
		return refused(fmt.Sprintf("server lacks required features %#x", missing))
	}
	if s.connectSeq+1 != r.ConnectSeq {
		return refused(fmt.Sprintf("connect_seq %d, want %d", r.ConnectSeq, s.connectSeq+1))
	}
	if r.Tag == wire.TagSeq {
		peerIn, _, _ := wire.DecodeSeq(seqBytes)
		s.discardRequeuedUpToLocked(peerIn)
		k.write(wire.AppendSeq(nil, s.inSeq))
	}
	// READY, SEQ and — as in Ceph — any other tag: ready (§11.1 step 5).
	s.connectSeq = r.ConnectSeq
	s.peerGlobalSeq = r.GlobalSeq
	s.policy.Lossy = r.Flags&wire.ConnectFlagLossy != 0
	s.features = r.Features & s.policy.FeaturesSupported
	k.becomeOpenLocked(s, ev)
	return nil
}
