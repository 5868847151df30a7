package protocol

import (
	"sync/atomic"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// Message is one msgr1 message. A sender must not modify a Message, its
// sections or its header fields after SendMessage: a lossless session keeps
// it for resend and the writer hands the sections to the engine without
// copying. A received Message's sections belong to the receiver, except
// on an endpoint with Config.RecycleMessages after Recycle (see there).
type Message struct {
	Type          uint16
	Priority      uint16 // 0 means the default (127)
	Version       uint16
	CompatVersion uint16
	Tid           uint64
	DataOff       uint16
	Front         []byte
	Middle        []byte
	Data          []byte

	// Set by the messenger.
	Seq  uint64          // assigned at write time (sending) / as received
	Src  wire.EntityName // sender (received messages: the header's src)
	Conn *Session        // the session it arrived on (received messages)

	// Receive-side throttle holds, given back by Release.
	held     [4]*throttle.Throttle
	heldN    [4]int64
	released bool
	// Send side: accounted bytes in the session out-queue.
	queuedAt int64

	// Recycling (pool.go): pool is set on messages from an endpoint's
	// msgPool, buf is their receive buffer, refs their holders.
	pool *msgPool
	buf  []byte
	refs atomic.Int32
}

// Reuse turns a received message into a new one to send back: type typ,
// every other header field (Tid, Priority, versions, DataOff) and the
// sections as received (Seq and Src are set again when sent). A dispatcher
// that answers with the payload it got (an echo) passes the result to
// SendMessage instead of building a new Message, so that, with
// Config.RecycleMessages, the message and its buffer return to the
// endpoint's pool once sent and acknowledged and nothing is allocated per
// message. Call it at most once, from the dispatcher m was delivered to.
func (m *Message) Reuse(typ uint16) *Message {
	m.Type = typ
	return m
}

// Recycle is Release for a receiver that is done with m for good (the
// messenger calls it after FastDispatch when Config.RecycleMessages is
// on): besides the throttles it gives up the receiver's hold, and once no
// SendMessage of m itself still holds it, m and its buffer return to the
// endpoint's pool for a later receive. Neither m nor its sections may be
// used afterwards. For a message not from a pool it is Release.
func (m *Message) Recycle() {
	m.Release()
	m.unref()
}

// ref and unref count a pooled message's holders (pool.go).
func (m *Message) ref() {
	if m.pool != nil {
		m.refs.Add(1)
	}
}

func (m *Message) unref() {
	if m.pool != nil && m.refs.Add(-1) == 0 {
		m.pool.put(m)
	}
}

// PayloadLen is front+middle+data.
func (m *Message) PayloadLen() int { return len(m.Front) + len(m.Middle) + len(m.Data) }

// Release returns the throttle capacity a received message holds (policy
// messages and bytes, dispatch queue). The messenger calls it once the
// dispatcher is done; calling it again does nothing. Not safe for
// concurrent use on the same Message.
func (m *Message) Release() {
	if m.released {
		return
	}
	m.released = true
	// Reverse order of taking: a reader woken by the policy throttle must
	// find the dispatch throttle already released, so the dispatch queue
	// never holds more than the policy allows (not even for a moment).
	for i := len(m.held) - 1; i >= 0; i-- {
		if t := m.held[i]; t != nil {
			t.Put(m.heldN[i])
			m.held[i] = nil
		}
	}
}

func (m *Message) prio() uint16 {
	if m.Priority == 0 {
		return wire.PrioDefault
	}
	return m.Priority
}
