package protocol

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// copyBelow: payload sections up to this size are copied into the batch
// buffer; larger ones are handed to the engine by reference (Writev takes
// ownership; a sent Message is immutable, so sharing is safe).
const copyBelow = 512

// drainFallback re-tries a blocked writer if OnDrained never comes (only
// possible when the engine's OutQueueLimit − OutQueueHighWater is smaller
// than WriteBatchBytes, a misconfiguration; see Config.WriteBatchBytes).
const drainFallback = 50 * time.Millisecond

// batch collects the segments of one fill.
type batch struct {
	bufs [][]byte
	own  bool // the last buffer is ours to append to
	n    int
	seg  int // largest segment: min(chunkSize, WriteBatchBytes), so one Writev always fits an empty out-queue
}

func (b *batch) owned(f func([]byte) []byte) {
	if !b.own {
		b.bufs = append(b.bufs, make([]byte, 0, 512))
		b.own = true
	}
	i := len(b.bufs) - 1
	before := len(b.bufs[i])
	b.bufs[i] = f(b.bufs[i])
	b.n += len(b.bufs[i]) - before
}

func (b *batch) ref(p []byte) {
	if len(p) <= copyBelow {
		if len(p) > 0 {
			b.owned(func(d []byte) []byte { return append(d, p...) })
		}
		return
	}
	for len(p) > 0 {
		c := min(len(p), b.seg)
		b.bufs = append(b.bufs, p[:c:c])
		b.n += c
		p = p[c:]
	}
	b.own = false
}

// flush writes whatever the session has for this socket, in batches, until
// nothing is left or the engine's out-queue is full (then OnDrained resumes).
func (k *sock) flush() {
	for !k.closed && !k.blocked && k.rs >= rsTag {
		if len(k.pending) == 0 && !k.fill() {
			return
		}
		if !k.writePending() {
			return
		}
	}
}

// fill moves the next batch from the session into k.pending: control
// frames, a keepalive, an ACK for what we received, then messages
// (requeued first, then by priority), assigning seq numbers (§13).
func (k *sock) fill() bool {
	cfg := &k.ep.cfg
	bt := batch{seg: min(chunkSize, cfg.WriteBatchBytes)}
	if len(k.ctl) > 0 {
		bt.ref(k.ctl) // ours: a new slice per batch, never modified after
		k.ctl = nil
	}
	s := k.sess
	s.mu.Lock()
	if s.sock != k || s.state != stOpen {
		s.mu.Unlock()
		k.pending = bt.bufs
		return len(k.pending) > 0
	}
	if s.keepalive {
		s.keepalive = false
		if s.features&wire.FeatureMsgrKeepalive2 != 0 {
			ts := wire.TimespecOf(k.now())
			bt.owned(func(d []byte) []byte { return wire.AppendKeepalive2(d, ts) })
		} else {
			bt.owned(func(d []byte) []byte { return append(d, byte(wire.TagKeepalive)) })
		}
	}
	if !s.policy.Lossy && s.inSeq > s.ackedIn {
		seq := s.inSeq
		s.ackedIn = seq
		bt.owned(func(d []byte) []byte { return wire.AppendAck(d, seq) })
	}
	msgAuth := s.features&wire.FeatureMsgAuth != 0
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
		s.outSeq++
		m.Seq = s.outSeq
		k.appendMessage(&bt, m, msgAuth)
		if s.policy.Lossy {
			s.forgetLocked(m)
		} else {
			s.sent = append(s.sent, m)
		}
		msgs++
		bytes += uint64(m.PayloadLen())
	}
	if len(bt.bufs) == 0 {
		s.flushQueued = false
	}
	s.mu.Unlock()
	k.ep.C.MsgsSent.Add(msgs)
	k.ep.C.BytesSent.Add(bytes)
	k.pending = bt.bufs
	return len(k.pending) > 0
}

// appendMessage adds one MSG frame: tag, header (CRC computed now that seq
// is known), sections, footer.
func (k *sock) appendMessage(bt *batch, m *Message, msgAuth bool) {
	crc := k.ep.cfg.CRC
	h := wire.Header{
		Seq: m.Seq, Tid: m.Tid, Type: m.Type, Priority: m.prio(), Version: m.Version,
		FrontLen: uint32(len(m.Front)), MiddleLen: uint32(len(m.Middle)), DataLen: uint32(len(m.Data)),
		DataOff: m.DataOff, Src: m.Src, CompatVersion: m.CompatVersion,
	}
	bt.owned(func(d []byte) []byte { return wire.AppendHeader(append(d, byte(wire.TagMsg)), h, crc.Header) })
	bt.ref(m.Front)
	bt.ref(m.Middle)
	bt.ref(m.Data)
	f := wire.MakeFooter(m.Front, m.Middle, m.Data, crc)
	bt.owned(func(d []byte) []byte { return wire.AppendFooter(d, f, msgAuth) })
}

// writePending hands k.pending to the engine, at most WriteBatchBytes per
// Writev. It reports false when the writer must stop (blocked or faulted).
func (k *sock) writePending() bool {
	cfg := &k.ep.cfg
	for len(k.pending) > 0 {
		n, sz := 0, 0
		for n < len(k.pending) && (n == 0 || sz+len(k.pending[n]) <= cfg.WriteBatchBytes) {
			sz += len(k.pending[n])
			n++
		}
		if f := cfg.InjectSocketFailures; f > 0 && rand.IntN(f) == 0 {
			k.ep.C.InjectedFailures.Add(1)
			k.fault(k.protoErr(ErrInjectedFailure))
			return false
		}
		group := make([][]byte, n)
		copy(group, k.pending[:n])
		err := k.lc.Writev(group)
		if errors.Is(err, engine.ErrOutQueueFull) {
			k.blocked = true
			if !k.fallback {
				k.fallback = true
				k.lc.AfterFunc(drainFallback, func() {
					k.fallback = false
					if k.blocked && !k.closed {
						k.blocked = false
						k.flush()
					}
				})
			}
			return false
		}
		if err != nil {
			k.fault(err)
			return false
		}
		k.active = true
		clear(k.pending[:n])
		k.pending = k.pending[n:]
	}
	k.pending = nil
	return true
}
