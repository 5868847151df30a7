package cli

import (
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/msgr"
)

// Echo message types (CONTRACT.md).
const (
	MsgEcho      uint16 = 0x7E01
	MsgEchoReply uint16 = 0x7E02
)

// echoServer is msgr-server's dispatcher: it answers ECHO with ECHO_REPLY
// (same tid, byte-identical sections); other types are counted and dropped.
type echoServer struct {
	delay   time.Duration
	echoed  atomic.Uint64
	other   atomic.Uint64
	dropped atomic.Uint64
}

func (e *echoServer) Dispatch(m *msgr.Message) {
	if e.delay > 0 {
		time.Sleep(e.delay) // the dispatch goroutine is the slow consumer (--dispatch-delay)
	}
	e.handle(m)
}

func (e *echoServer) handle(m *msgr.Message) {
	if m.Type != MsgEcho {
		e.other.Add(1)
		return
	}
	// The reply is the received message itself, retyped: same tid, header
	// fields and sections, and no allocation (with RecycleFastDispatch
	// its buffer is reused once the reply is acknowledged).
	c := m.Conn
	if err := c.SendMessage(m.Reuse(MsgEchoReply)); err != nil {
		// Out-queue full (a client that does not read) or closed: drop.
		e.dropped.Add(1)
		return
	}
	e.echoed.Add(1)
}

// Without --dispatch-delay the echo is cheap and never blocks, so it runs
// on the engine loop; with it, the delay must stall the dispatch queue.
func (e *echoServer) CanFastDispatch(*msgr.Message) bool { return e.delay == 0 }
func (e *echoServer) FastDispatch(m *msgr.Message)       { e.handle(m) }
func (e *echoServer) HandleConnect(*msgr.Connection)     {}
func (e *echoServer) HandleAccept(*msgr.Connection)      {}
func (e *echoServer) HandleReset(*msgr.Connection)       {}
func (e *echoServer) HandleRemoteReset(*msgr.Connection) {}
func (e *echoServer) HandleRefused(*msgr.Connection)     {}
