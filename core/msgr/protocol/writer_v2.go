package protocol

import "github.com/netmodels/netmodels/core/msgr/wire"

// fill2 is fill for an msgr2 socket: the keepalive acks proto2 made, a
// KEEPALIVE2 if one is asked for, then queued messages by priority, each
// framed by proto2 (seq, ack_seq, crcs). A small message is framed into
// the batch buffer; a larger one into a frame buffer of its own that
// goes to the engine by reference, in chunks (so one Writev never
// exceeds the out-queue), as msgr1's large sections do. Lossy only: a
// written message is forgotten at once, nothing is kept for resend.
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
	var msgs, bytes uint64
	for bt.n < cfg.WriteBatchBytes {
		m := s.queue.pop()
		if m == nil {
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
		s.forgetLocked(m) // lossy; the frame holds a copy of its sections
	}
	if len(bt.bufs) == 0 {
		s.flushQueued = false
	}
	s.mu.Unlock()
	k.ep.C.MsgsSent.Add(msgs)
	k.ep.C.BytesSent.Add(bytes)
	return k.takeBatch(&bt)
}
