package dpdkengine

import (
	"errors"
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/netmodels/netmodels/core/engine"
)

// Splice relays bytes from this connection to dst without OnData
// (engine.Splicer). There is no splice(2) under a userspace stack: the
// relay writes what the source received straight into dst's gVisor
// endpoint, on the source's loop, which still spares the handler and the
// protocol code (and the copy through dst's out-queue).
//
// The relay starts once dst is connected and its out-queue is empty; it
// then holds dst's write side, so dst's own writes are queued (within its
// OutQueueLimit) and sent after the splice, and a CloseWrite on dst waits
// too (spec/engine.md, "Splicer"). Backpressure comes from dst's endpoint:
// when it takes no more, the source stops reading (its read buffer stays
// full) until dst's next event wakes it.
//
// Call it from the source's loop (OnData, done, Execute), as the proxy does.
func (c *conn) Splice(dst engine.Conn, limit int64, done func(n int64, err error)) error {
	d, ok := dst.(*conn)
	if !ok || d.e.ns != c.e.ns {
		return fmt.Errorf("dpdk: splice to %T: %w", dst, errors.ErrUnsupported)
	}
	if c.Closed() || d.Closed() {
		return engine.ErrClosed
	}
	if c.spl != nil {
		return errors.New("dpdk: splice: one already runs on this connection")
	}
	if d == c || !d.splicedBy.CompareAndSwap(nil, c) {
		return errors.New("dpdk: splice: destination already receives a splice")
	}
	c.spl = &splice{dst: d, limit: limit, done: done}
	c.w.markReady(c)
	return nil
}

// splice is a running relay; loop-only on the source.
type splice struct {
	dst   *conn
	limit int64 // < 0: until EOF
	n     int64
	done  func(n int64, err error)
}

// relay writes received bytes into dst; it replaces deliver while
// splicing.
func (c *conn) relay() bool {
	sp, d := c.spl, c.spl.dst
	d.mu.Lock()
	gone := d.out.Discarded()
	if !gone && !d.held && d.out.Len() == 0 && d.state.Load() == stateOpen {
		d.held = true // from here d's own writes wait for the end
	}
	held := d.held
	d.mu.Unlock()
	if gone || d.Closed() {
		c.endSplice(fmt.Errorf("dpdk: splice destination: %w", engine.ErrClosed))
		return true
	}
	if !held {
		return false // d's queued bytes go first; d's flush wakes us
	}
	progress := false
	for len(c.in) > 0 && sp.n != sp.limit {
		n := len(c.in)
		if sp.limit >= 0 {
			n = int(min(int64(n), sp.limit-sp.n))
		}
		c.w.wr.Reset(c.in[:n])
		w, err := d.ep.Write(&c.w.wr, tcpip.WriteOptions{})
		if w > 0 {
			c.in = c.in[w:]
			sp.n += w
			progress = true
		}
		if _, full := err.(*tcpip.ErrWouldBlock); full || (err == nil && int(w) < n) {
			return progress // d's next event wakes us
		}
		if err != nil {
			c.endSplice(fmt.Errorf("dpdk: splice destination: %w", d.opError("write", err)))
			return true
		}
	}
	if sp.n != sp.limit {
		if !c.eof {
			return progress
		}
		c.eofReported = true // done reports the EOF; no OnReadEOF
	}
	c.endSplice(nil)
	return true
}

// endSplice releases dst (its queue and FIN go on) and runs done.
func (c *conn) endSplice(err error) {
	sp := c.spl
	c.spl = nil
	sp.dst.releaseSplice()
	sp.done(sp.n, err)
}

// releaseSplice ends the relay into c (only its source calls it): c's
// queued writes and FIN go out now.
func (c *conn) releaseSplice() {
	c.mu.Lock()
	c.held = false
	c.mu.Unlock()
	c.splicedBy.Store(nil)
	c.w.markReady(c)
}
