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
// ownership; a sent Message is immutable, so sharing is safe). Copying
// 16 KiB costs about what the system call it saves does (a batch of
// copies goes in one write), and larger sections are few per batch.
const copyBelow = 16 << 10

// tailCap is the capacity of a new owned buffer after a by-reference
// section: room for a footer and the next header.
const tailCap = 512

// drainFallback re-tries a blocked writer if OnDrained never comes (only
// possible when the engine's OutQueueLimit − OutQueueHighWater is smaller
// than WriteBatchBytes, a misconfiguration; see Config.WriteBatchBytes).
const drainFallback = 50 * time.Millisecond

// batch collects the segments of one fill. Owned bytes (control frames,
// headers, footers and copied sections) are appended to the endpoint's
// batch buffer (bufPool) as long as no by-reference section comes
// between them, which is always the case for small messages and pooled
// ones; that buffer alone goes to the engine with Write, which copies it,
// and back to the pool, so a fill of such messages allocates nothing.
// Owned bytes after a by-reference section go to a new buffer. A batch
// with by-reference sections goes in one Writev, the batch buffer with
// it (one system call per batch, not one for the buffer and one for the
// rest); the buffer goes back to the pool if the engine wrote everything
// at once (OutQueued() == 0), else it is the engine's, left to the
// collector.
type batch struct {
	bufs  [][]byte
	own   bool // the last buffer is ours to append to
	n     int
	seg   int // largest segment: min(chunkSize, WriteBatchBytes), so one Writev always fits an empty out-queue
	pool  *bufPool
	bufAt int // bufs[bufAt-1] is the pool's batch buffer; 0: none yet
}

// tail is the owned buffer to append to; put stores the result.
func (b *batch) tail() []byte {
	if !b.own {
		var d []byte
		if b.bufAt == 0 {
			d = b.pool.get()
			b.bufAt = len(b.bufs) + 1
		} else {
			d = make([]byte, 0, tailCap)
		}
		b.bufs = append(b.bufs, d)
		b.own = true
	}
	return b.bufs[len(b.bufs)-1]
}

func (b *batch) put(d []byte) {
	i := len(b.bufs) - 1
	b.n += len(d) - len(b.bufs[i])
	b.bufs[i] = d
}

// ref adds a section: copied when small or when copy is set (a pooled
// message, which may be reused once the session forgets it, before the
// engine has written a reference), else handed over by reference.
func (b *batch) ref(p []byte, copy bool) {
	if len(p) <= copyBelow || copy {
		if len(p) > 0 {
			b.put(append(b.tail(), p...))
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

// beginFill starts a batch with the control frames queued and locks the
// session, which it returns if this socket is its open one; otherwise it
// unlocks and returns nil, and the caller writes only what the batch
// holds. The control frames were built in a pool buffer (ctlBuf): up to
// copyBelow it becomes the batch buffer itself, appended to and given
// back like one from tail(), so answering keepalives allocates nothing
// (a new slice per batch made 38-40 heap bytes per KEEPALIVE2 in
// msgr-keepalive-pipelined, a quarter of the server's CPU in GC). More
// than that goes by reference and is the engine's.
func (k *sock) beginFill() (batch, *Session) {
	bt := batch{bufs: k.segs[:0], seg: min(chunkSize, k.ep.cfg.WriteBatchBytes), pool: &k.ep.wbufs}
	if len(k.ctl) > 0 {
		if len(k.ctl) <= copyBelow {
			bt.bufs = append(bt.bufs, k.ctl)
			bt.n, bt.own, bt.bufAt = len(k.ctl), true, 1
		} else {
			bt.ref(k.ctl, false)
		}
		k.ctl = nil
	}
	s := k.sess
	s.mu.Lock()
	if s.sock != k || s.state != stOpen {
		s.mu.Unlock()
		return bt, nil
	}
	return bt, s
}

// fill moves the next batch from the session into k.pending: control
// frames, a keepalive, an ACK for what we received, then messages
// (requeued first, then by priority), assigning seq numbers (§13).
func (k *sock) fill() bool {
	if k.p2 != nil {
		return k.fill2()
	}
	cfg := &k.ep.cfg
	bt, s := k.beginFill()
	if s == nil {
		return k.takeBatch(&bt)
	}
	if s.keepalive {
		s.keepalive = false
		if s.features&wire.FeatureMsgrKeepalive2 != 0 {
			bt.put(wire.AppendKeepalive2(bt.tail(), wire.TimespecOf(k.now())))
		} else {
			bt.put(append(bt.tail(), byte(wire.TagKeepalive)))
		}
	}
	if !s.policy.Lossy && s.inSeq > s.ackedIn {
		s.ackedIn = s.inSeq
		bt.put(wire.AppendAck(bt.tail(), s.inSeq))
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
		msgs++
		bytes += uint64(m.PayloadLen()) // before forgetLocked: a pooled m may be reused once forgotten
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

// takeBatch makes bt the pending segments and keeps its array for the
// next fill.
func (k *sock) takeBatch(bt *batch) bool {
	k.pending, k.bufAt = bt.bufs, bt.bufAt
	k.segs = bt.bufs[:0]
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
	bt.put(wire.AppendHeader(append(bt.tail(), byte(wire.TagMsg)), h, crc.Header))
	pooled := m.pool != nil
	bt.ref(m.Front, pooled)
	bt.ref(m.Middle, pooled)
	bt.ref(m.Data, pooled)
	bt.put(wire.AppendFooter(bt.tail(), wire.MakeFooter(m.Front, m.Middle, m.Data, crc), msgAuth))
}

// writePending hands k.pending to the engine, at most WriteBatchBytes per
// Writev. The pool's batch buffer alone goes with Write (the engine
// copies it) and straight back to the pool; in a Writev with other
// segments it goes back only if the engine wrote it at once. It reports
// false when the writer must stop (blocked or faulted).
func (k *sock) writePending() bool {
	cfg := &k.ep.cfg
	for len(k.pending) > 0 {
		n, sz := 0, 0
		for n < len(k.pending) && (n == 0 || sz+len(k.pending[n]) <= cfg.WriteBatchBytes) {
			sz += len(k.pending[n])
			n++
		}
		pooled := k.bufAt > 0 && k.bufAt <= n // the batch buffer is in this write
		if f := cfg.InjectSocketFailures; f > 0 && rand.IntN(f) == 0 {
			k.ep.C.InjectedFailures.Add(1)
			k.fault(k.protoErr(ErrInjectedFailure))
			return false
		}
		var err error
		if n == 1 && pooled {
			err = k.lc.Write(k.pending[0])
		} else {
			group := make([][]byte, n)
			copy(group, k.pending[:n])
			err = k.lc.Writev(group)
		}
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
		switch {
		case pooled && n == 1:
			k.ep.wbufs.put(k.pending[0])
		case pooled && k.lc.OutQueued() == 0:
			// Written: the engine holds no reference (engine.Conn.OutQueued).
			k.ep.wbufs.put(k.pending[k.bufAt-1])
		}
		if k.bufAt > 0 {
			k.bufAt -= n
			if k.bufAt <= 0 {
				k.bufAt = 0
			}
		}
		clear(k.pending[:n])
		k.pending = k.pending[n:]
	}
	k.pending = nil
	return true
}
