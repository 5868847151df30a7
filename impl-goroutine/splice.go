package goroutine

import (
	"errors"
	"fmt"
	"io"

	"github.com/netmodels/netmodels/core/engine"
)

// spliceReq is one Splice call, run by the source's reader goroutine (the
// only goroutine that reads the source socket, so there is never a second
// reader racing it).
type spliceReq struct {
	dst   *conn
	limit int64
	done  func(n int64, err error)
}

// ErrSpliceUnsupported is returned when dst is not a connection of the same
// goroutine engine; the caller then relays through OnData and Write.
var ErrSpliceUnsupported = fmt.Errorf("goroutine: splice: %w", errors.ErrUnsupported)

// errSpliceBusy is returned when a splice from this connection is already
// running.
var errSpliceBusy = errors.New("goroutine: splice: already splicing")

// Splice implements engine.Splicer with TCPConn.ReadFrom, which uses
// splice(2) on Linux. The order of bytes is kept:
//
//  1. The splice starts at the reader's next step; a read already blocked
//     completes first.
//  2. It waits until dst's out-queue is empty (everything written to dst
//     before Splice reaches the kernel first).
//  3. Bytes of the source already received but not consumed by OnData are
//     written to dst, then the kernel relays the rest.
//  4. Writes to dst while the splice runs are queued and sent after it ends
//     (within dst's OutQueueLimit as usual); a CloseWrite on dst waits too.
//
// PauseRead does not stop a running splice: backpressure comes from dst's
// socket. done runs on the source's loop, never after its OnClose; if the
// source is closed while splicing, OnClose is the only report. After EOF
// (done with a nil error and less than limit bytes) no OnReadEOF follows.
// After the limit, or after an error, OnData deliveries resume.
func (c *conn) Splice(dst engine.Conn, limit int64, done func(n int64, err error)) error {
	d, ok := dst.(*conn)
	if !ok || d.eng != c.eng {
		return ErrSpliceUnsupported
	}
	if d == c || done == nil {
		return fmt.Errorf("goroutine: splice: bad arguments")
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	switch {
	case c.Closing || c.rdone:
		return engine.ErrClosed
	case c.spliceReq != nil:
		return errSpliceBusy
	}
	c.spliceReq = &spliceReq{dst: d, limit: limit, done: done}
	c.Cond.Broadcast()
	return nil
}

// runSplice runs sp on the reader goroutine and reports the new read
// buffer bounds and whether the reader is finished (EOF or closing).
func (c *conn) runSplice(sp *spliceReq, buf []byte, start, end int) (int, int, bool) {
	d := sp.dst
	var n int64
	var err error
	fin := false

	// Claim dst's write side once its queue is flushed.
	d.Mu.Lock()
	for !d.Closing && !c.Closed() && !d.FreeLocked() {
		d.Cond.Wait()
	}
	if d.Closing {
		d.Mu.Unlock()
		err = engine.ErrClosed
	} else if c.Closed() {
		d.Mu.Unlock()
		return start, end, true
	} else {
		d.ClaimLocked()
		dtcp := d.TCP
		d.Mu.Unlock()

		if buffered := int64(end - start); buffered > 0 {
			m := buffered
			if sp.limit >= 0 {
				m = min(m, sp.limit)
			}
			w, werr := dtcp.Write(buf[start : start+int(m)])
			start += w
			n += int64(w)
			err = werr
		}
		if err == nil && (sp.limit < 0 || n < sp.limit) {
			var r io.Reader = c.TCP
			lr := &io.LimitedReader{R: c.TCP, N: sp.limit - n}
			if sp.limit >= 0 {
				r = lr
			}
			var m int64
			m, err = dtcp.ReadFrom(r)
			n += m
			if err == nil && (sp.limit < 0 || lr.N > 0) {
				fin = true // source EOF
			}
		}

		d.Mu.Lock()
		d.UnclaimLocked()
		d.Cond.Broadcast()
		d.Mu.Unlock()
	}

	c.Mu.Lock()
	c.spliceReq = nil
	if fin {
		c.rdone = true
	}
	c.Mu.Unlock()
	if c.Closed() {
		return start, end, true
	}
	done := sp.done
	c.Loop.Post(func() {
		if !c.OnCloseDone {
			done(n, err)
		}
	})
	return start, end, fin
}
