package memengine

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// service advances one connection as far as it can go now. It runs on the
// loop with the engine lock held, releasing it around each callback. The
// steps come in a fixed order (establish, Execute functions, read and
// deliver, EOF, flush, close), so a scenario replays identically. Anything
// that happens during a callback reschedules the connection instead of
// looping here, which keeps connections taking turns.
func (e *Engine) service(c *conn) {
	c.scheduled = false
	switch c.state {
	case stateClosed:
		return
	case stateDialing:
		if !c.closing {
			e.resolveDial(c)
		}
	case stateAccepted:
		if !c.closing && c.lis.hold(c) {
			return // in a paused listener's backlog: Resume schedules it
		}
		if !c.closing {
			if c.lis != nil && c.lis.budget != nil {
				c.lis.budget.Take()
			}
			e.accept(c)
		}
	}
	if c.state == stateOpen && !c.opened && !c.closing {
		c.opened = true
		e.unlocked(func() { c.h.OnOpen(c) })
	}
	if c.state == stateOpen && !c.closing {
		e.runExec(c)
	}
	if c.state == stateOpen && !c.closing {
		e.read(c)
	}
	if c.resetErr != nil && !c.closing && (len(c.inflight) == 0 || c.paused) {
		e.startClose(c, c.resetErr, false)
	}
	if c.state == stateOpen && !c.closing {
		e.readEOF(c)
	}
	if c.state == stateOpen && !c.closing {
		e.flush(c)
	}
	if c.closing {
		e.finishClose(c)
	}
}

// resolveDial decides a dial: connect to the listener bound at the address,
// hang if the address is blackholed, otherwise refuse.
func (e *Engine) resolveDial(c *conn) {
	if e.net.blackhole[c.remoteAP] {
		c.state = stateSynSent
		e.addTimer(new(loopkit.Timer), c, c.dialTimeout, true, func() {
			e.startClose(c, dialError(c.remoteAddr, syscall.ETIMEDOUT), false)
			e.schedule(c)
		})
		return
	}
	l := e.net.lookupListener(c.remoteAP)
	if l == nil {
		e.startClose(c, dialError(c.remoteAddr, syscall.ECONNREFUSED), false)
		return
	}
	if l.e.closed || len(l.backlog) >= ListenBacklog {
		e.startClose(c, dialError(c.remoteAddr, syscall.ECONNREFUSED), false)
		return
	}
	s := l.e.newConn(nil, l.newHandler)
	s.state = stateAccepted
	s.lis = l
	// A wildcard listener answers from the address that was dialled.
	s.localAddr = tcpAddr(netip.AddrPortFrom(c.remoteAP.Addr(), l.ap.Port()))
	s.remoteAddr = c.localAddr
	s.peer = c
	c.peer = s
	c.state = stateOpen
	if e.fault != nil || l.e.fault != nil {
		var cf, sf FaultPlan
		e.unlocked(func() {
			if e.fault != nil {
				cf = e.fault(c, true)
			}
			if l.e.fault != nil {
				sf = l.e.fault(s, false)
			}
		})
		c.fault, s.fault = cf, sf
	}
	e.schedule(s)
}

// accept creates the handler of an accepted connection; OnOpen follows.
func (e *Engine) accept(c *conn) {
	var h = c.h
	e.unlocked(func() { h = c.newHandler(c) })
	c.h = h
	c.state = stateOpen
	if h == nil {
		// The application refused the connection: close it unseen.
		e.startClose(c, nil, true)
	}
}

// runExec runs the Execute functions queued before this turn; functions
// they queue run on a later turn, after the current callback as promised.
func (e *Engine) runExec(c *conn) {
	for n := len(c.execq); n > 0 && !c.closing; n-- {
		e.runOneExec(c)
	}
}

func (e *Engine) runOneExec(c *conn) {
	fn := c.execq[0]
	c.execq[0] = nil
	c.execq = c.execq[1:]
	e.execPending--
	e.unlocked(fn)
}

// read moves bytes from the socket buffer into the read buffer, at most
// ReadBufferSize held, and offers them to the handler again and again while
// it consumes something and bytes remain. When it consumes nothing, the
// bytes wait for newer ones (or for ResumeRead) before being offered again.
func (e *Engine) read(c *conn) {
	limit := e.cfg.ReadBufferSize
	for !c.closing {
		if c.splice != nil {
			// A splice runs even while reading is paused (spec section 9).
			if !e.spliceStep(c) {
				return
			}
			continue
		}
		if c.paused {
			return
		}
		if n := min(limit-len(c.in), len(c.inflight)); n > 0 {
			c.in = append(c.in, c.inflight[:n]...)
			c.inflight = c.inflight[n:]
			if len(c.inflight) == 0 {
				c.inflight = nil
			}
			c.fresh = true
			// Room in the socket buffer: the peer may flush more.
			if c.peer != nil {
				e.schedule(c.peer)
			}
		}
		if !c.fresh || len(c.in) == 0 {
			return
		}
		c.fresh = false
		in := c.in
		var consumed int
		e.unlocked(func() { consumed = c.h.OnData(c, in) })
		if c.closing {
			return
		}
		if err := engine.CheckConsumed(consumed, len(in)); err != nil {
			e.startClose(c, fmt.Errorf("memengine: read %v: %w", c.remoteAddr, err), true)
			return
		}
		c.in = c.in[:copy(c.in, c.in[consumed:])]
		if len(c.in) == 0 {
			c.in = nil
		}
		if consumed == 0 {
			if len(c.in) >= limit {
				e.startClose(c, readBufferFullError(c), true)
				return
			}
			if len(c.inflight) == 0 {
				return // nothing new to show: wait for more bytes
			}
		} else if len(c.in) > 0 {
			// Progress with bytes left (one message of several): offer the
			// rest again, as Ceph's read_until loop does.
			c.fresh = true
		}
	}
}

// readEOF reports the peer's FIN once every byte before it has been read.
// A paused reader does not read, so it does not see EOF either.
func (e *Engine) readEOF(c *conn) {
	if c.finRcvd && len(c.inflight) == 0 && !c.paused && !c.eofDelivered && c.splice == nil {
		c.eofDelivered = true
		e.unlocked(func() { c.h.OnReadEOF(c) })
	}
}

// flush moves out-queue bytes into the peer's socket buffer, owes OnDrained
// at the low-water mark, and sends FIN after the last queued byte.
func (e *Engine) flush(c *conn) {
	p := c.peer
	if src := c.spliceSrc; src != nil {
		// A splice into us owns our socket: wake it (our peer may have
		// made room); once it has started, our queue and FIN wait.
		e.schedule(src)
		if src.splice != nil && src.splice.started {
			return
		}
	}
	if c.out.Len() > 0 {
		if p.closing || p.state == stateClosed {
			// Bytes to a closed socket draw a reset, as in TCP.
			e.startClose(c, resetError("write", c), false)
			return
		}
		n := min(e.pipe-len(p.inflight), c.out.Len())
		deliver := n
		if c.fault.Action != FaultNone && c.sent+int64(n) > c.fault.After {
			deliver = int(max(c.fault.After-c.sent, 0))
		}
		var drained bool
		p.inflight, drained = c.moveOut(p.inflight, n, deliver)
		if deliver > 0 {
			e.schedule(p)
		}
		if deliver < n {
			switch c.fault.Action {
			case FaultReset:
				c.sent += int64(deliver)
				p.resetErr = resetError("read", p)
				e.schedule(p)
				e.startClose(c, resetError("write", c), false)
				return
			case FaultBlackhole:
				// The rest vanishes on the wire.
			}
		}
		c.sent += int64(n)
		if drained {
			c.drainDue = true
		}
	}
	if c.drainDue {
		c.drainDue = false
		if c.out.DrainStillDue() {
			e.unlocked(func() { c.h.OnDrained(c) })
			if c.closing {
				return
			}
		}
	}
	if c.out.TakeFIN() {
		if !p.closing && p.state != stateClosed {
			p.finRcvd = true
			e.schedule(p)
		}
	}
}

// moveOut takes n bytes off the front of c's out-queue and appends the
// first keep of them to dst (a fault may lose the rest on the wire). It
// reports whether the out-queue says OnDrained is now due.
func (c *conn) moveOut(dst []byte, n, keep int) ([]byte, bool) {
	drained := false
	for n > 0 {
		iov := c.out.Pending(c.e.iov[:0], 0)
		k := 0
		for _, b := range iov {
			m := min(len(b), n-k)
			if kept := min(m, keep); kept > 0 {
				dst = append(dst, b[:kept]...)
				keep -= kept
			}
			if k += m; k == n {
				break
			}
		}
		clear(iov)
		c.e.iov = iov[:0]
		drained = c.out.Consume(k) || drained
		n -= k
	}
	return dst, drained
}

// startClose begins closing c: its queues are discarded and OnClose(err) is
// due. If the close is the application's (orderly), the peer reads a FIN
// after what is already in flight to it; a reset or Shutdown sends none.
func (e *Engine) startClose(c *conn, err error, orderly bool) {
	if c.closing || c.state == stateClosed {
		return
	}
	c.closing = true
	c.closeErr = err
	c.out.Discard()
	c.drainDue = false
	c.inflight = nil
	c.in = nil
	e.schedule(c)
	if p := c.peer; p != nil && orderly && !p.closing && p.state != stateClosed {
		p.finRcvd = true
		e.schedule(p)
	}
}

// finishClose delivers OnClose: first the Execute functions still queued
// (so nothing accepted is lost), then OnClose, after which the conn is
// inert and Execute fails.
func (e *Engine) finishClose(c *conn) {
	e.dropTimers(c)
	if c.splice != nil {
		c.dropSplice() // OnClose is the only report (spec section 9)
	}
	if c.spliceSrc != nil {
		e.schedule(c.spliceSrc) // it will find us closed and end its splice
	}
	for len(c.execq) > 0 && c.h != nil {
		e.runOneExec(c)
	}
	e.execPending -= len(c.execq)
	c.execq = nil
	e.dropTimers(c) // an Execute function may have armed one
	c.state = stateClosed
	delete(e.conns, c)
	if p := c.peer; p != nil {
		// The peer may have writes that now draw a reset.
		e.schedule(p)
	}
	if c.h != nil {
		err := c.closeErr
		e.unlocked(func() { c.h.OnClose(c, err) })
	}
	if e.closed && len(e.conns) == 0 {
		e.wake.Signal()
	}
}
