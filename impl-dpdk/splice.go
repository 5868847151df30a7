package dpdkengine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/engine"
)

// Splice relays bytes from this connection to dst without OnData
// (engine.Splicer). There is no splice(2) under a userspace stack: the
// relay copies from gVisor's receive queue into dst's out-queue on the
// source's loop, which still spares the handler and the protocol code.
//
// Backpressure comes from dst: the source reads from gVisor only while
// dst's out-queue is below OutQueueHighWater, and dst wakes the source
// whenever it hands bytes to gVisor. Writes to dst while the splice runs
// are held (within dst's OutQueueLimit) and queued after it, and a
// CloseWrite on dst waits for them (spec/engine.md, "Splicer").
//
// Call it from the source's loop (OnData, done, Execute), as the proxy does.
func (c *conn) Splice(dst engine.Conn, limit int64, done func(n int64, err error)) error {
	d, ok := dst.(*conn)
	if !ok || d.e.ns != c.e.ns {
		return fmt.Errorf("dpdk: splice to %T: %w", dst, errors.ErrUnsupported)
	}
	if c.isClosed() || d.isClosed() {
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

var _ engine.Splicer = (*conn)(nil)

// splice is a running relay; loop-only on the source.
type splice struct {
	dst   *conn
	limit int64 // < 0: until EOF
	n     int64
	done  func(n int64, err error)
}

// spliceRoom reports whether the relay may read more from the source.
func (c *conn) spliceRoom() bool {
	return c.spl.dst.OutQueued() < c.e.cfg.OutQueueHighWater
}

// relay moves received bytes to dst; it replaces deliver while splicing.
func (c *conn) relay() bool {
	sp := c.spl
	d := sp.dst
	progress := false
	if d.isClosed() {
		c.endSplice(fmt.Errorf("dpdk: splice destination: %w", engine.ErrClosed))
		return true
	}
	for len(c.in) > 0 {
		room := c.e.cfg.OutQueueHighWater - d.OutQueued()
		if room <= 0 {
			return progress // d.flush wakes us
		}
		n := min(len(c.in), room)
		if sp.limit >= 0 {
			n = int(min(int64(n), sp.limit-sp.n))
		}
		if err := d.spliceEnqueue(bytes.Clone(c.in[:n])); err != nil {
			c.endSplice(fmt.Errorf("dpdk: splice destination: %w", err))
			return true
		}
		rest := copy(c.in, c.in[n:])
		c.in = c.in[:rest]
		sp.n += int64(n)
		progress = true
		if sp.limit >= 0 && sp.n >= sp.limit {
			c.endSplice(nil)
			return true
		}
	}
	if c.eof {
		c.eofReported = true // done reports the EOF; no OnReadEOF
		c.endSplice(nil)
		return true
	}
	if sp.limit == 0 {
		c.endSplice(nil)
		return true
	}
	return progress
}

// endSplice releases dst (held writes go out) and runs done.
func (c *conn) endSplice(err error) {
	sp := c.spl
	c.spl = nil
	sp.dst.releaseSplice(c)
	sp.done(sp.n, err)
}

// spliceEnqueue queues relayed bytes on c, a splice destination, ahead of
// held writes; a CloseWrite requested on c waits for the splice, so it
// does not refuse them.
func (c *conn) spliceEnqueue(b []byte) error {
	c.mu.Lock()
	if c.closing || c.isClosed() {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	c.out = append(c.out, b)
	c.outBytes += len(b)
	if c.outBytes > c.e.cfg.OutQueueHighWater {
		c.aboveHigh = true
	}
	c.mu.Unlock()
	c.w.markReady(c)
	return nil
}

// releaseSplice ends src's hold on c, a splice destination: held writes
// join the out-queue.
func (c *conn) releaseSplice(src *conn) {
	if !c.splicedBy.CompareAndSwap(src, nil) {
		return
	}
	c.mu.Lock()
	c.out = append(c.out, c.held...)
	c.held = nil
	c.mu.Unlock()
	c.w.markReady(c)
}
