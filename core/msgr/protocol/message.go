package protocol

import (
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// Message is one msgr1 message. A sender must not modify a Message, its
// sections or its header fields after SendMessage: a lossless session keeps
// it for resend and the writer hands the sections to the engine without
// copying. A received Message's sections belong to the receiver.
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
