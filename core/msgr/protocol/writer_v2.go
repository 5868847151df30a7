package protocol

import "github.com/netmodels/netmodels/core/msgr/wire"

// fill2 is fill for an msgr2 socket: the keepalive acks proto2 made, a
// KEEPALIVE2 if one is asked for, an ACK of what a lossless session
// received (one per batch, as msgr1's fill: proto2 is told the caller
// acks), then messages, requeued ones first (with their seqs again),
// then queued ones by priority, each framed by proto2 (seq, ack_seq,
// crcs). A small message is framed into the batch buffer; a larger one
// into a frame buffer of its own that goes to the engine by reference,
// in chunks (so one Writev never exceeds the out-queue), as msgr1's
// large sections do. A lossy session forgets a written message at once;
// a lossless one keeps it on its sent list until the peer acknowledges
// it (the frame holds a copy of its sections either way).
func (k *sock) fill2() bool {
	if k.sess == nil {
		return false // an acceptor assembling a handshake frame: not open yet
	}
	cfg := &k.ep.cfg
	bt, s := k.beginFill()
	if s == nil {
		return k.takeBatch(&bt)
	}
	if s.keepalive {
		s.keepalive = false
		if k.p2.SendKeepalive(wire.TimespecOf(k.now())) == nil {
			bt.put(append(bt.tail(), k.p2.Output()...))
		}
	}
	if !s.policy.Lossy && s.inSeq > s.ackedIn && k.p2.SendAck() == nil {
		s.ackedIn = s.inSeq
		bt.put(append(bt.tail(), k.p2.Output()...))
	}
	var msgs, bytes uint64
	for bt.n < cfg.WriteBatchBytes {
		var m *Message
		if len(s.requeued) > 0 {
			m = s.requeued[0]
			s.requeued[0] = nil
			s.requeued = s.requeued[1:]
		} else if m = s.queue.pop(); m == nil {
			break
		}
		var seq uint64
		var err error
		if m.PayloadLen() <= copyBelow {
			var b []byte
			if b, seq, err = k.p2.AppendMessage(bt.tail(), toWire2(m)); err == nil {
				bt.put(b)
			}
		} else {
			var f []byte
			if f, seq, err = k.p2.AppendMessage(make([]byte, 0, m.PayloadLen()+frameOverhead), toWire2(m)); err == nil {
				bt.ref(f, false)
			}
		}
		if err != nil {
			// SendMessage refuses what is over MaxMessageBytes, which is
			// proto2's limit too: not reached.
			k.ep.logf("msgr: %s %s: dropping message: %v", k.op(), k.peerString(), err)
			s.forgetLocked(m)
			continue
		}
		s.outSeq = seq
		m.Seq = seq
		msgs++
		bytes += uint64(m.PayloadLen())
		s.ackedIn = s.inSeq // its ack_seq
		if s.policy.Lossy {
			s.forgetLocked(m)
		} else {
			s.sent = append(s.sent, m)
		}
	}
	if len(bt.bufs) == 0 {
		s.flushQueued = false
	}
	s.mu.Unlock()
	k.ep.C.MsgsSent.Add(msgs)
	k.ep.C.BytesSent.Add(bytes)
	return k.takeBatch(&bt)
}
