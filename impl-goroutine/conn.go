package goroutine

import (
	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// conn is one TCP connection: a serial.BaseConn (loop, handler, socket,
// close sequence and write side) plus the reader's state. Fields under Mu
// are shared between the caller's goroutines (Write, Close, PauseRead...),
// the reader and the flusher; fields marked "loop" are touched only while
// holding the loop's token. Cond wakes a paused reader, and splice waiters
// for this conn's queue.
type conn struct {
	serial.BaseConn
	eng *Engine

	// read side, under Mu
	paused    bool
	rdone     bool       // read EOF seen (or reader gone): no splice possible
	spliceReq *spliceReq // a splice from this conn is requested or running

	rd readState // the reader goroutine's own (reader.go)
}

var (
	_ engine.Conn    = (*conn)(nil)
	_ engine.Splicer = (*conn)(nil)
)

func newConn(e *Engine, l *serial.Loop) *conn {
	c := &conn{eng: e}
	c.rd.eng = e
	c.rd.fn = c.rd.readFD
	c.BaseConn.Init(serial.ConnConfig{
		Self:          c,
		Registry:      &e.reg,
		Loop:          l,
		Config:        e.cfg,
		CloseLocked:   c.closeLocked,
		IdleWakesCond: true, // a splice may wait for this queue to empty
	})
	return c
}

// PauseRead takes effect at the reader's next step: a read already blocked
// in the kernel completes into the read buffer (at most ReadBufferSize
// bytes), is held there, and the reader then parks without reading more.
func (c *conn) PauseRead() {
	c.Mu.Lock()
	c.paused = true
	c.Mu.Unlock()
}

func (c *conn) ResumeRead() {
	c.Mu.Lock()
	if c.paused {
		c.paused = false
		c.Cond.Broadcast()
	}
	c.Mu.Unlock()
}

// readHeld reports whether deliveries must stop now.
func (c *conn) readHeld() bool {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.paused || c.Closing || c.spliceReq != nil
}

// closeLocked is this engine's part of CloseWith: closing the socket
// unblocks the reader, the flusher and any splice, and a splice waiting
// for its destination to drain is woken.
func (c *conn) closeLocked() (after func()) {
	tc, sp := c.TCP, c.spliceReq
	return func() {
		if tc != nil {
			_ = tc.Close()
		}
		if sp != nil {
			// The splice may be waiting for its destination to drain.
			sp.dst.Mu.Lock()
			sp.dst.Cond.Broadcast()
			sp.dst.Mu.Unlock()
		}
	}
}
