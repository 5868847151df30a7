package protocol

import (
	"errors"

	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
	"github.com/netmodels/netmodels/core/throttle"
)

// errFrameLeft is a whole frame that proto2 did not take: a bug of ours,
// faulted rather than spun on.
var errFrameLeft = errors.New("msgr2: a whole frame was left unconsumed")

// readFrame2 judges the next frame on its preamble (READY). A MESSAGE
// takes its throttles before a byte of its body is buffered; a control
// frame is handed to proto2 once it is all in.
func (k *sock) readFrame2(in []byte) (int, error) {
	nx, err := k.p2.Peek(in)
	if err == wire2.ErrShort {
		return 0, wire.ErrShort
	}
	if err != nil {
		return 0, k.protoErr(err)
	}
	if nx.Tag == wire2.TagMessage {
		k.claim = nx.MessageBytes
		k.frameLen = int(nx.FrameLen)
		k.frameMsg = true
		k.tIdx = 0
		k.rs = rsThrottle
		return 0, nil
	}
	if uint64(len(in)) < nx.FrameLen {
		if nx.FrameLen > assembleAbove {
			k.frameMsg = false
			k.startBody(int(nx.FrameLen), false)
			return 0, nil
		}
		return 0, wire.ErrShort
	}
	n, _, err := k.receive2(in[:nx.FrameLen])
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, k.protoErr(errFrameLeft)
	}
	return n, k.ctlBackpressure()
}

// finishFrame2 hands an assembled frame to proto2: a MESSAGE (its
// throttles held) becomes a Message whose sections alias the buffer and
// is delivered; a MESSAGE proto2 drops (an old seq, an aborted frame)
// returns its throttles.
func (k *sock) finishFrame2() error {
	body := k.body[:k.bodyLen]
	k.body = nil
	m := k.rx
	k.rx = nil
	held, heldN := k.held, k.heldN
	k.held = [4]*throttle.Throttle{}
	k.tIdx = 0
	isMsg := k.frameMsg
	k.frameMsg = false
	k.rs = rsV2Frame
	if !k.p2.Established() {
		k.rs = rsV2Handshake
	}
	n, e, err := k.receive2(body)
	if err == nil && n != len(body) {
		err = k.protoErr(errFrameLeft)
	}
	if err != nil || e == nil {
		putHeld(&held, &heldN)
		if m != nil {
			m.unref() // back to the pool: nothing refers to it
		}
		if err == nil && isMsg {
			k.ep.C.DuplicatesDropped.Add(1)
			k.ep.logf("msgr: %s %s: dropping msgr2 message (seq already received, or aborted by the sender)", k.op(), k.peerString())
		}
		if err == nil && !isMsg && k.p2.Established() {
			// A control frame assembled here (a keepalive padded past the
			// read buffer) queues its answer like one read whole.
			return k.ctlBackpressure()
		}
		return err
	}
	if m == nil {
		m = new(Message)
	}
	wm := &e.Message
	h := &wm.Header
	m.Type, m.Priority, m.Version, m.CompatVersion = h.Type, h.Priority, h.Version, h.CompatVersion
	m.Tid, m.DataOff, m.Seq, m.Src = h.Tid, h.DataOff, e.Seq, k.peerName
	fl, ml, dl := len(wm.Front), len(wm.Middle), len(wm.Data)
	m.Front, m.Middle, m.Data = wm.Front[:fl:fl], wm.Middle[:ml:ml], wm.Data[:dl:dl]
	m.held, m.heldN = held, heldN
	s := k.sess
	s.mu.Lock()
	if s.sock != k {
		s.mu.Unlock()
		m.Release()
		return k.protoErr(ErrReplaced)
	}
	s.inSeq = e.Seq
	k.ep.C.MsgsReceived.Add(1)
	k.ep.C.BytesReceived.Add(uint64(fl + ml + dl))
	m.Conn = s
	if s.state == stOpen {
		s.flushQueued = true // OnData flushes after its input: see finishMessage
	}
	s.deliverLocked(m) // unlocks s.mu before calling Deliver
	return nil
}

// putHeld returns throttle holds, in reverse order as Message.Release.
func putHeld(held *[4]*throttle.Throttle, n *[4]int64) {
	for i := len(held) - 1; i >= 0; i-- {
		if t := held[i]; t != nil {
			t.Put(n[i])
			held[i] = nil
		}
	}
}

// toWire2 is m's ceph_msg_header2 and sections; seq and ack_seq are
// proto2's. Flags is the footer flags Ceph's ProtocolV2 puts there:
// COMPLETE (the crcs are the frame's).
func toWire2(m *Message) wire2.Message {
	return wire2.Message{
		Header: wire2.MsgHeader2{Tid: m.Tid, Type: m.Type, Priority: m.prio(), Version: m.Version,
			DataOff: m.DataOff, Flags: wire.FooterComplete, CompatVersion: m.CompatVersion},
		Front: m.Front, Middle: m.Middle, Data: m.Data,
	}
}

// isV2Refusal reports a fault that is a refusal between a well-behaved
// peer and us (a feature, an auth method or mode, WAIT, a stale
// connection overtaken by a newer one), logged but not counted as bad
// input.
func isV2Refusal(err error) bool {
	for _, target := range []error{errStale2, proto2.ErrWait, proto2.ErrAuthRefused, proto2.ErrMissingFeatures,
		proto2.ErrSecureMode} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
