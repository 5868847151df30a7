package proto2

import (
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// READY: messages with seq/ack, ACK, KEEPALIVE2 and its ACK.

func (c *Conn) handleMessage(f wire2.Frame) error {
	m, err := wire2.DecodeMessage(f)
	if err != nil {
		return err
	}
	seq := m.Header.Seq
	if seq <= c.inSeq {
		// An old message (a resend the peer thought lost): dropped, and
		// reading goes on, as Ceph's handle_message. Its ack_seq is not
		// looked at either.
		return nil
	}
	if m.Header.AckSeq > c.outSeq {
		return fmt.Errorf("%w: ack_seq %d in message %d, last sent %d", ErrBadAck, m.Header.AckSeq, seq, c.outSeq)
	}
	// A seq that skips ahead is taken, as Ceph does (the kernel client
	// may pull a message from its sent queue to send it elsewhere).
	c.inSeq = seq
	c.emit(Event{Kind: EventMessage, Message: m, Seq: seq})
	if !c.peer.Lossy {
		c.ackOwed = true
	}
	return c.acked(m.Header.AckSeq)
}

func (c *Conn) handleAck(p []byte) error {
	seq, err := payload(p, "ACK", wire2.DecodeU64)
	if err != nil {
		return err
	}
	return c.acked(seq)
}

// acked records the peer's acknowledgement. Ceph trims its sent list with
// whatever comes; an ack beyond what we sent is a broken peer, refused.
func (c *Conn) acked(seq uint64) error {
	if seq > c.outSeq {
		return fmt.Errorf("%w: ack %d, last sent %d", ErrBadAck, seq, c.outSeq)
	}
	if seq > c.peerAcked {
		c.peerAcked = seq
		c.emit(Event{Kind: EventAck, Seq: seq})
	}
	return nil
}

func (c *Conn) handleKeepalive(p []byte) error {
	ts, err := payload(p, "KEEPALIVE2", wire2.DecodeKeepalive)
	if err != nil {
		return err
	}
	c.sendControl(wire2.TagKeepalive2Ack, wire2.AppendKeepalive(c.scratch(), ts))
	c.emit(Event{Kind: EventKeepalive, Stamp: ts})
	return nil
}

func (c *Conn) handleKeepaliveAck(p []byte) error {
	ts, err := payload(p, "KEEPALIVE2_ACK", wire2.DecodeKeepalive)
	if err != nil {
		return err
	}
	c.emit(Event{Kind: EventKeepaliveAck, Stamp: ts})
	return nil
}

// flushAck writes one ACK after a Receive that took messages of a
// lossless session, unless a message we sent since carried the ack
// (Ceph's ack_left, written after the messages in write_event). Lossy
// sessions never ACK: nothing is resent.
func (c *Conn) flushAck() {
	if c.ackOwed && c.state == StateReady && !c.callerAcks() {
		c.ackOwed = false
		c.sendControl(wire2.TagAck, wire2.AppendU64(c.scratch(), c.inSeq))
	}
}

func (c *Conn) callerAcks() bool {
	if c.role == Client {
		return c.client.CallerAcks
	}
	return c.server.CallerAcks
}

// sendable says whether the Send methods may write.
func (c *Conn) sendable() error {
	if c.err != nil {
		return c.err
	}
	if c.state != StateReady {
		return ErrNotReady
	}
	return nil
}

// SendMessage frames m with the next seq and our in_seq as its ack_seq
// (the rest of its header is the caller's) and returns the seq. Its
// sections are copied into Output. A message larger than our own
// Limits.MaxMessageBytes is refused (the peer, with the same default,
// would refuse it): an error, not a fault.
func (c *Conn) SendMessage(m wire2.Message) (uint64, error) {
	out, seq, err := c.AppendMessage(c.out, m)
	c.out = out
	return seq, err
}

// AppendMessage is SendMessage writing the frame to b, a buffer of the
// caller's, instead of Output, and returning b extended: a writer that
// batches frames in its own buffer copies the sections once. Frames must
// reach the peer in the order the Conn made them, so the caller writes
// what Output holds before b (Output holds only what a Receive or a Send
// method added since it was last taken). On an error b is returned as
// it was.
func (c *Conn) AppendMessage(b []byte, m wire2.Message) ([]byte, uint64, error) {
	if err := c.sendable(); err != nil {
		return b, 0, err
	}
	limit := c.limits.MaxMessageBytes
	if limit == 0 {
		limit = wire2.DefaultMaxMessageBytes
	}
	if n := uint64(len(m.Front)) + uint64(len(m.Middle)) + uint64(len(m.Data)); n > limit {
		return b, 0, fmt.Errorf("msgr2 %s %s: message of %d bytes over the limit of %d", c.role, c.peerString(), n, limit)
	}
	c.outSeq++
	m.Header.Seq = c.outSeq
	m.Header.AckSeq = c.inSeq
	c.ackOwed = false
	return wire2.AppendMessage(b, m), c.outSeq, nil
}

// SendKeepalive writes a KEEPALIVE2 carrying ts (the sender's clock; the
// peer echoes it).
func (c *Conn) SendKeepalive(ts wire.Timespec) error {
	if err := c.sendable(); err != nil {
		return err
	}
	c.sendControl(wire2.TagKeepalive2, wire2.AppendKeepalive(c.scratch(), ts))
	return nil
}

// SendAck writes an ACK of every message received so far.
func (c *Conn) SendAck() error {
	if err := c.sendable(); err != nil {
		return err
	}
	c.ackOwed = false
	c.sendControl(wire2.TagAck, wire2.AppendU64(c.scratch(), c.inSeq))
	return nil
}
