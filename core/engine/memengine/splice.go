package memengine

import (
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/engine"
)

// splice is a relay in progress from a source conn to dst.
type splice struct {
	dst     *conn
	limit   int64 // < 0: until EOF
	n       int64
	started bool // dst's out-queue had drained: bytes now flow
	done    func(n int64, err error)
}

var _ engine.Splicer = (*conn)(nil)

// ErrSpliceBusy is returned by Splice while another splice of the same
// source, or into the same destination, runs.
var ErrSpliceBusy = errors.New("memengine: a splice is already running on this connection")

// Splice relays bytes from c to dst without OnData, as splice(2) moves
// them from one socket to another (spec/engine.md section 9): once dst's
// out-queue has drained, first what c has buffered and not consumed, then
// whatever arrives, go straight into dst's pipe. A full pipe stops the
// relay (the backpressure of dst's socket); PauseRead does not. Writes to
// dst meanwhile, and its CloseWrite, wait in dst's out-queue until the
// splice ends. done runs on the loop after limit bytes (limit < 0: no
// limit), at c's EOF (err nil; no OnReadEOF follows) or when dst fails
// (err says why); if c itself closes, OnClose is the only report. Fault
// plans do not apply to spliced bytes.
func (c *conn) Splice(dst engine.Conn, limit int64, done func(n int64, err error)) error {
	d, ok := dst.(*conn)
	if !ok || d.e != c.e {
		return fmt.Errorf("memengine: splice to %v: destination of another engine: %w", dst.RemoteAddr(), errors.ErrUnsupported)
	}
	if done == nil {
		return errors.New("memengine: splice: nil done")
	}
	if d == c {
		return fmt.Errorf("memengine: splice to %v: a connection cannot splice to itself", dst.RemoteAddr())
	}
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.closing || c.state == stateClosed || d.closing || d.state == stateClosed || d.out.WriteClosed() {
		return engine.ErrClosed
	}
	if c.splice != nil || d.spliceSrc != nil {
		return ErrSpliceBusy
	}
	c.splice = &splice{dst: d, limit: limit, done: done}
	d.spliceSrc = c
	e.schedule(c)
	return nil
}

// spliceStep moves what it can from c into the destination's pipe. It
// reports whether the splice ended (done has run), so the caller goes on
// reading; false means it waits for bytes, for room, or for the
// destination's queue to drain.
func (e *Engine) spliceStep(c *conn) bool {
	sp := c.splice
	d := sp.dst
	if d.closing || d.state == stateClosed {
		e.endSplice(c, fmt.Errorf("memengine: splice to %v: %w", d.remoteAddr, engine.ErrClosed))
		return true
	}
	if !sp.started {
		if d.state != stateOpen || d.out.Len() > 0 {
			return false // dst's flush wakes us when it has sent its queue
		}
		sp.started = true
	}
	dp := d.peer
	pending := len(c.in) + len(c.inflight)
	if pending > 0 && (dp.closing || dp.state == stateClosed) {
		// Bytes to a closed socket draw a reset, as in TCP.
		err := resetError("write", d)
		e.startClose(d, err, false)
		e.endSplice(c, err)
		return true
	}
	room := d.e.pipe - len(dp.inflight)
	take := func(src []byte) int {
		k := min(len(src), room)
		if sp.limit >= 0 {
			k = int(min(int64(k), sp.limit-sp.n))
		}
		if k > 0 {
			dp.inflight = append(dp.inflight, src[:k]...)
			room -= k
			sp.n += int64(k)
			d.sent += int64(k)
		}
		return k
	}
	moved := 0
	if k := take(c.in); k > 0 {
		c.in = c.in[:copy(c.in, c.in[k:])]
		moved += k
	}
	if k := take(c.inflight); k > 0 {
		c.inflight = c.inflight[k:]
		moved += k
		e.schedule(c.peer) // room in our socket buffer
	}
	if len(c.in) == 0 {
		c.in = nil
	}
	if len(c.inflight) == 0 {
		c.inflight = nil
	}
	if moved > 0 {
		e.schedule(dp)
	}
	switch {
	case sp.limit >= 0 && sp.n >= sp.limit:
		e.endSplice(c, nil)
		return true
	case len(c.in) == 0 && len(c.inflight) == 0 && c.finRcvd:
		c.eofDelivered = true // the splice reports EOF instead of OnReadEOF
		e.endSplice(c, nil)
		return true
	}
	return false
}

// endSplice clears the splice and runs done on the loop. The destination
// may send what was queued behind the splice; bytes c still holds go back
// to OnData unless done starts another splice.
func (e *Engine) endSplice(c *conn, err error) {
	sp := c.dropSplice()
	if len(c.in) > 0 {
		c.fresh = true
	}
	e.unlocked(func() { sp.done(sp.n, err) })
}

// dropSplice detaches c's splice from both ends and wakes the destination.
func (c *conn) dropSplice() *splice {
	sp := c.splice
	c.splice = nil
	if sp.dst.spliceSrc == c {
		sp.dst.spliceSrc = nil
	}
	c.e.schedule(sp.dst)
	return sp
}
