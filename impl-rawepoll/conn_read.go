package rawepoll

import (
	"fmt"

	"github.com/netmodels/netmodels/core/engine"
	"golang.org/x/sys/unix"
)

// readsPerEvent bounds the reads of one connection per readiness, so one
// busy connection cannot hold the loop (level-triggered epoll calls again
// while bytes remain); reads go on only while they fill the buffer.
const readsPerEvent = 4

// onReadable is the read callback.
func (c *conn) onReadable() {
	switch {
	case c.state != stateOpen:
		// EPOLLERR/EPOLLHUP during connect: the write callback reports it.
		return
	case c.relay != nil:
		c.relay.pump()
		return
	case c.paused || c.eof || c.spliceReq.Load():
		return
	}
	for range readsPerEvent {
		if !c.readOnce() {
			return
		}
	}
}

// readOnce reads once into the connection's buffer and delivers. It
// reports whether another read is worthwhile now: the read filled all the
// room (the socket may hold more) and the handler took everything.
func (c *conn) readOnce() bool {
	if c.rbuf == nil {
		c.rbuf = c.w.getReadBuffer()
		c.rstart, c.rend = 0, 0
	}
	// Keep the unconsumed tail at the front so the read gets the most room.
	if c.rstart > 0 {
		c.rend = copy(c.rbuf, c.rbuf[c.rstart:c.rend])
		c.rstart = 0
	}
	room := len(c.rbuf) - c.rend
	if room == 0 {
		// deliver closes on a full buffer the handler will not consume;
		// reaching here means it is paused on purpose.
		return false
	}
	// x/sys/unix returns errno values as unix.Errno: compared directly.
	n, err := unix.Read(c.fd, c.rbuf[c.rend:])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		c.releaseEmptyBuffer()
		return false
	case err != nil:
		c.closeNow(c.opError("read", err))
		return false
	case n == 0:
		if serr := c.sendError(); serr != nil {
			// A reset that a direct send already collected: not an EOF.
			c.closeNow(c.opError("write", serr))
			return false
		}
		// The handler has seen what is buffered; offering it again with
		// nothing new would only repeat the last OnData.
		c.eof = true
		c.releaseEmptyBuffer()
		c.updateInterest()
		c.reportEOF()
		return false
	}
	c.rend += n
	c.deliver()
	plain := c.state == stateOpen && c.relay == nil && !c.spliceReq.Load() && !c.Closed()
	// FIN in before epoll_wait (RDHUP, no ERR), room left: EOF without a read of 0.
	if plain && n < room && c.w.center.bits&(unix.EPOLLRDHUP|unix.EPOLLERR) == unix.EPOLLRDHUP && c.sendError() == nil {
		c.eof = true
		c.updateInterest()
		c.reportEOF()
	}
	return plain && n == room && c.rbuf == nil && !c.paused
}

func (c *conn) sendError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendErr
}

// deliver hands buffered bytes to OnData while the handler makes progress
// (Ceph's read_until: what it leaves stays, and comes back with newer bytes
// appended), then reports EOF once everything before it was offered.
func (c *conn) deliver() {
	for c.rend > c.rstart {
		if c.paused || c.relay != nil || c.state != stateOpen || c.Closed() || c.spliceReq.Load() {
			return
		}
		in := c.rbuf[c.rstart:c.rend]
		k := c.h.OnData(c, in)
		if c.state != stateOpen {
			return
		}
		if err := engine.CheckConsumed(k, len(in)); err != nil {
			c.closeNow(fmt.Errorf("rawepoll: read %s: %w", c.raddr, err))
			return
		}
		c.rstart += k
		if k == 0 {
			if len(in) >= len(c.rbuf) && !c.paused && c.relay == nil {
				c.closeNow(fmt.Errorf("rawepoll: read %s: %w", c.raddr, engine.ErrReadBufferFull))
				return
			}
			break
		}
	}
	c.releaseEmptyBuffer()
	c.reportEOF()
}

// reportEOF delivers OnReadEOF once the handler has seen every byte
// before the EOF (consumed or not: a truncated message stays truncated),
// unless reads are held.
func (c *conn) reportEOF() {
	if c.eof && !c.eofReported && !c.paused && c.state == stateOpen && c.relay == nil && !c.Closed() && !c.spliceReq.Load() {
		c.eofReported = true
		c.h.OnReadEOF(c)
	}
}

// releaseEmptyBuffer returns the read buffer to the pool once it holds
// nothing: idle connections keep no buffer.
func (c *conn) releaseEmptyBuffer() {
	if c.rbuf != nil && c.rstart == c.rend {
		c.w.putReadBuffer(c.rbuf)
		c.rbuf = nil
		c.rstart, c.rend = 0, 0
	}
}
