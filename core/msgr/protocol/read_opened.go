package protocol

import (
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// readTag reads an OPENED-state tag (§7.4).
func (k *sock) readTag(in []byte) (int, error) {
	t := wire.Tag(in[0])
	switch t {
	case wire.TagMsg:
		k.rs = rsHeader
	case wire.TagAck, wire.TagKeepalive2, wire.TagKeepalive2Ack:
		k.tag = t
		k.rs = rsFixed
	case wire.TagKeepalive:
		k.ep.C.KeepalivesReceived.Add(1)
	case wire.TagClose:
		k.closeByPeer()
		return 1, nil
	default:
		return 1, k.protoErr(&UnknownTagError{Tag: uint8(t)})
	}
	return 1, nil
}

// closeByPeer ends the session: CLOSE means the peer is done with it (§16 #23).
func (k *sock) closeByPeer() {
	s := k.sess
	var ev events
	s.mu.Lock()
	current := s.sock == k
	if current {
		s.sock = nil
		s.closeLocked()
		ev.add(EventReset, s)
	}
	s.mu.Unlock()
	k.fault(ErrPeerClosed)
	ev.emit(k.ep.hooks)
	if current {
		k.ep.unregister(s)
	}
}

// readFixed reads the payload of ACK, KEEPALIVE2 or KEEPALIVE2_ACK.
func (k *sock) readFixed(in []byte) (int, error) {
	s := k.sess
	switch k.tag {
	case wire.TagAck:
		seq, n, err := wire.DecodeSeq(in)
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		if s.sock == k {
			s.handleAckLocked(seq)
		}
		s.mu.Unlock()
		k.rs = rsTag
		return n, nil
	case wire.TagKeepalive2:
		ts, n, err := wire.DecodeTimespec(in)
		if err != nil {
			return 0, err
		}
		k.ep.C.KeepalivesReceived.Add(1)
		// Ceph answers every KEEPALIVE2, in order.
		k.ctl = wire.AppendKeepalive2Ack(k.ctlBuf(), ts)
		k.rs = rsTag
		return n, k.ctlBackpressure()
	default: // KEEPALIVE2_ACK
		_, n, err := wire.DecodeTimespec(in)
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		s.lastKeepaliveAck = k.now()
		s.mu.Unlock()
		k.rs = rsTag
		return n, nil
	}
}

// ctlBuf is k.ctl to append a control frame to: a batch buffer from the
// endpoint's pool when none is started (beginFill says why).
func (k *sock) ctlBuf() []byte {
	if k.ctl == nil {
		k.ctl = k.ep.wbufs.get()
	}
	return k.ctl
}

// ctlBackpressure hands the control frames built on the loop (answers to
// keepalives) to the engine once they pass ctlLimit; if the engine's
// out-queue is full, the peer sends faster than it reads them, and
// reading stops until the out-queue drains (OnDrained resumes).
func (k *sock) ctlBackpressure() error {
	if len(k.ctl) > ctlLimit {
		k.flush()
		if k.blocked && !k.closed {
			k.ctlWait = true
			k.lc.PauseRead()
			return errPaused
		}
	}
	return nil
}

// readHeader reads and checks a message header, then takes throttles.
// Nothing is allocated for the payload before the lengths pass the limit.
func (k *sock) readHeader(in []byte) (int, error) {
	h, n, err := wire.DecodeHeader(in)
	if err != nil {
		return 0, err
	}
	cfg := &k.ep.cfg
	if cfg.CRC.Header {
		if err := wire.CheckHeaderCRC(in); err != nil {
			return n, k.protoErr(err)
		}
	}
	pl := h.PayloadLen()
	if pl > cfg.MaxMessageBytes {
		return n, k.protoErr(&wire.LengthError{Len: pl, Max: cfg.MaxMessageBytes})
	}
	k.hdr = h
	k.claim = pl
	k.tIdx = 0
	k.rs = rsThrottle
	return n, nil
}

// throttleAt is the i-th throttle a message takes and how much: Ceph's
// order, policy messages, policy bytes, then the dispatch queue.
func (k *sock) throttleAt(i int) (*throttle.Throttle, int64) {
	pl := int64(k.claim)
	pt := k.ep.policyThrottlesFor(k.sess.peerType)
	switch i {
	case 0:
		return pt.msgs, 1
	case 1:
		return pt.bytes, pl
	case 2:
		return k.ep.dispatchMsgs, 1
	default:
		return k.ep.dispatchBytes, pl
	}
}

// takeThrottles takes the four throttles in order. When one is exhausted it
// registers a waiter, pauses reading and returns errPaused; the grant
// callback (on this loop) records the hold and resumes reading.
func (k *sock) takeThrottles() error {
	for k.tIdx < len(k.held) {
		t, n := k.throttleAt(k.tIdx)
		if t == nil {
			k.tIdx++
			continue
		}
		idx := k.tIdx
		if t.Get(n) { // fast path: no closures, no waiter
			k.held[idx], k.heldN[idx] = t, n
			k.tIdx++
			continue
		}
		lc := k.lc
		w, ok := t.GetOrWait(n, func(fn func()) error { return k.execute(lc, fn) }, func() {
			k.waiter = nil
			if k.closed {
				t.Put(n)
				return
			}
			k.held[idx], k.heldN[idx] = t, n
			k.tIdx = idx + 1
			k.paused = false
			// Take the rest now, not on the next OnData: a peer that sent
			// the header alone may send nothing more, and the body's
			// progress timer starts only once every throttle is held.
			if k.takeThrottles() == errPaused {
				return // waiting on the next throttle, still paused
			}
			k.bodyPending()
			if !k.ctlWait {
				k.lc.ResumeRead()
			}
		})
		if !ok {
			k.waiter = w
			k.paused = true
			k.lc.PauseRead()
			k.ep.C.ThrottledReads.Add(1)
			return errPaused
		}
		k.held[idx], k.heldN[idx] = t, n
		k.tIdx++
	}
	if k.p2 != nil {
		k.startBody(k.frameLen, true) // the whole frame: proto2 checks and decodes it in place
		return nil
	}
	k.footLen = wire.FooterSize(k.features()&wire.FeatureMsgAuth != 0)
	k.startBody(int(k.hdr.PayloadLen())+k.footLen, true)
	return nil
}

// startBody prepares the buffer readBody fills with the next n bytes: a
// message's payload and footer, its throttles held. pooled allows a
// buffer from the endpoint's message pool (Config.RecycleMessages).
func (k *sock) startBody(n int, pooled bool) {
	k.bodyLen = n
	switch {
	case n > maxPooledBody, !pooled:
		// Memory follows the bytes received, not the length claimed:
		// readBody grows the buffer as they arrive. A control frame
		// (msgr2, !pooled) may come before authentication, so even its
		// 64 KiB bound is not allocated on a claim.
		k.body = nil
	case pooled && k.ep.rx != nil:
		k.rx = k.ep.rx.get(n)
		k.body = k.rx.buf
	default:
		k.body = make([]byte, n)
	}
	k.have = 0
	k.rs = rsBody
}

// features reads the session features; they change only in the handshake,
// which this loop runs, so reading them here needs the lock only for the
// race detector's sake.
func (k *sock) features() uint64 {
	s := k.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.features
}

// readBody copies payload and footer into the message buffer.
func (k *sock) readBody(in []byte) (int, error) {
	if rest := k.bodyLen - k.have; len(in) > rest {
		in = in[:rest]
	}
	if end := k.have + len(in); end > len(k.body) {
		k.growBody(end)
	}
	n := copy(k.body[k.have:], in)
	k.have += n
	if k.have < k.bodyLen {
		return n, nil
	}
	if k.p2 != nil {
		return n, k.finishFrame2()
	}
	return n, k.finishMessage()
}

// growBody makes room for need bytes of a body that startBody did not
// allocate whole: at least double the buffer and at least maxPooledBody
// (a message) or assembleAbove (an msgr2 control frame), never
// beyond bodyLen. A body's buffer is so at most twice the bytes received
// plus that floor, whatever length its header claims.
func (k *sock) growBody(need int) {
	floor := maxPooledBody
	if k.p2 != nil && !k.frameMsg {
		floor = assembleAbove
	}
	c := min(max(2*len(k.body), need, floor), k.bodyLen)
	nb := make([]byte, c)
	copy(nb, k.body[:k.have])
	k.body = nb
}

// bodyPending notes that the current message body is incomplete as of now
// (it grew or began in this callback) and arms its progress check
// (Config.BodyProgressTimeout) if it is not armed yet. A body completed
// within one OnData never gets here, so small messages cost no clock read.
func (k *sock) bodyPending() {
	d := k.ep.cfg.BodyProgressTimeout
	if d <= 0 || k.lc == nil {
		return
	}
	k.bodyLast = k.now()
	if k.bodyTimer == nil {
		if k.bodyCheck == nil {
			k.bodyCheck = k.checkBody
		}
		k.bodyTimer = k.lc.AfterFunc(d, k.bodyCheck)
	}
}

// checkBody runs when a body's period is up. A body that grew meanwhile
// (or a later message's body) re-arms for the rest of its period; one that
// did not faults the socket. fault drops the partial message and returns
// its throttle reservations (releaseHeld), as Ceph's reset_recv_state does
// on a fault, and the session's policy applies.
func (k *sock) checkBody() {
	k.bodyTimer = nil
	if k.closed || k.rs != rsBody {
		return
	}
	d := k.ep.cfg.BodyProgressTimeout
	if idle := k.now().Sub(k.bodyLast); idle < d {
		k.bodyTimer = k.lc.AfterFunc(d-idle, k.bodyCheck)
		return
	}
	k.ep.C.BodyTimeouts.Add(1)
	k.fault(k.protoErr(&BodyTimeoutError{Have: k.have, Len: k.bodyLen, After: d}))
}

// finishMessage checks the footer and sequence and delivers (§8.4).
func (k *sock) finishMessage() error {
	h := &k.hdr
	body := k.body
	k.body = nil
	k.rs = rsTag
	fl, ml := int(h.FrontLen), int(h.MiddleLen)
	pl := int(h.PayloadLen())
	m := k.rx
	k.rx = nil
	if m == nil {
		m = new(Message)
	}
	m.Type, m.Priority, m.Version, m.CompatVersion = h.Type, h.Priority, h.Version, h.CompatVersion
	m.Tid, m.DataOff, m.Seq, m.Src = h.Tid, h.DataOff, h.Seq, h.Src
	m.Front, m.Middle, m.Data = body[:fl:fl], body[fl:fl+ml:fl+ml], body[fl+ml:pl:pl]
	m.held, m.heldN = k.held, k.heldN
	k.held = [4]*throttle.Throttle{}
	k.tIdx = 0
	f, _, _ := wire.DecodeFooter(body[pl:], k.footLen == wire.FooterLen)
	if err := wire.CheckFooter(f, m.Front, m.Middle, m.Data, k.ep.cfg.CRC); err != nil {
		m.Release()
		return k.protoErr(err)
	}
	s := k.sess
	s.mu.Lock()
	if s.sock != k {
		s.mu.Unlock()
		m.Release()
		return k.protoErr(ErrReplaced)
	}
	if h.Seq <= s.inSeq {
		// A duplicate: drop it and keep reading (Pacific stalls here, §16 #21).
		in := s.inSeq
		s.mu.Unlock()
		m.Release()
		k.ep.C.DuplicatesDropped.Add(1)
		k.ep.logf("msgr: %s %s: dropping duplicate seq %d <= %d", k.op(), k.peerString(), h.Seq, in)
		return nil
	}
	s.inSeq = h.Seq
	k.ep.C.MsgsReceived.Add(1)
	k.ep.C.BytesReceived.Add(uint64(pl))
	m.Conn = s
	if s.state == stOpen {
		// OnData flushes once its input is consumed (flush, under s.mu,
		// resets this when nothing is left), so a reply sent from
		// Deliver needs no Execute: no wake-up and no closure per reply.
		s.flushQueued = true
	}
	s.deliverLocked(m) // unlocks s.mu before calling Deliver
	return nil
}
