package rawepoll

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// The write path. A write with nothing queued ahead goes to the socket at
// once, from whichever thread calls Write: no copy, no hand-off. What the
// kernel does not take goes into the out-queue (under c.mu) and one flush
// is posted; the loop sends it with sendmsg, EPOLLOUT only on EAGAIN.

// Write implements engine.Conn: a copy of b, all or nothing.
func (c *conn) Write(b []byte) error { return c.write(b, nil) }

// Writev implements engine.Conn: what the kernel does not take at once is
// queued as it is (the caller gave up ownership), all or nothing.
func (c *conn) Writev(bufs [][]byte) error { return c.write(nil, bufs) }

// directIov bounds the slices a direct Writev sends (the iovecs live on
// the writer's stack); longer vectors go through the loop.
const directIov = 64

func (c *conn) write(b []byte, bufs [][]byte) error {
	n := loopkit.Size(b, bufs)
	c.mu.Lock()
	drainNow, err := c.out.Admit(n)
	if err == nil && n > 0 && c.canSendNowLocked() {
		if bufs == nil {
			var one [1][]byte
			one[0] = b
			b = b[c.sendNowLocked(one[:], nil):]
		} else if len(bufs) <= directIov {
			var iovecs [directIov]unix.Iovec
			bufs = loopkit.Advance(bufs, c.sendNowLocked(bufs, iovecs[:]))
		}
	}
	post := false
	if err == nil {
		if bufs == nil {
			c.out.AppendCopy(b)
		} else {
			c.out.AppendOwned(bufs)
		}
		post = c.needFlushLocked()
	}
	c.mu.Unlock()
	if post {
		_ = c.w.center.post(c.flushFn)
	}
	if drainNow {
		_ = c.w.center.post(c.drained)
	}
	return err
}

// needFlushLocked says whether the loop must be asked to flush: something
// is queued (or a FIN or a send error waits) and no flush is posted yet.
func (c *conn) needFlushLocked() bool {
	if c.flushPosted || (c.out.Len() == 0 && !c.out.FINPending() && c.sendErr == nil) {
		return false
	}
	c.flushPosted = true
	if c.flushFn == nil {
		c.flushFn = c.postedFlush // on first use: many connections post none
	}
	return true
}

// canSendNowLocked says whether a write may go straight to the socket:
// it is connected, nothing is queued ahead (so order holds), no relay is
// feeding it and no error is pending. The loop's own flush holds c.mu
// too, so the two never interleave.
func (c *conn) canSendNowLocked() bool {
	return c.out.Len() == 0 && c.sendErr == nil && c.established.Load() && !c.relaying.Load()
}

// sendNowLocked makes one non-blocking send of bufs and returns how many
// bytes the kernel took. An error other than EAGAIN/EINTR is kept for the
// loop (the kernel reports a socket error once; the loop would otherwise
// read a plain EOF next) and a flush is posted so the loop closes with it.
func (c *conn) sendNowLocked(bufs [][]byte, iovecs []unix.Iovec) int {
	n, err := writevFD(c.fd, bufs, iovecs)
	if err == nil {
		return n
	}
	if err != unix.EAGAIN && err != unix.EINTR {
		c.sendErr = err
		if c.needFlushLocked() {
			// post takes the queue's lock, never c.mu: safe here.
			_ = c.w.center.post(c.flushFn)
		}
	}
	return 0
}

// OutQueued implements engine.Conn.
func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len()
}

// CloseWrite implements engine.Conn: shutw once everything queued so far
// (and any splice into this connection) has gone out.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	err := c.out.CloseWrite()
	post := err == nil && c.needFlushLocked()
	c.mu.Unlock()
	if post {
		_ = c.w.center.post(c.flushFn)
	}
	return err
}

// drained delivers an OnDrained that Admit found due at once, if it still
// is (the handler may have queued more since).
func (c *conn) drained() {
	c.mu.Lock()
	due := c.out.DrainStillDue()
	c.mu.Unlock()
	if due && c.state == stateOpen && !c.Closed() {
		c.h.OnDrained(c)
	}
}

// onWritable is the write callback: connect completion, or room in the
// send buffer again.
func (c *conn) onWritable() {
	switch c.state {
	case stateConnecting:
		c.finishConnect()
	case stateOpen:
		c.flushAndNotify()
	}
}

// flushAndNotify sends what it can, fixes the interest, and reports
// OnDrained and room to a relay feeding this connection.
func (c *conn) flushAndNotify() {
	if c.state != stateOpen {
		return
	}
	if r := c.relayIn; r != nil && r.inPipe > 0 {
		// Spliced bytes already in the pipe go before newer writes.
		r.drainPipe()
		if c.state != stateOpen || (c.relayIn != nil && c.relayIn.inPipe > 0) {
			return
		}
	}
	drained, err := c.flush()
	if err != nil {
		c.closeNow(c.opError("write", err))
		return
	}
	c.updateInterest()
	if drained && !c.Closed() {
		c.h.OnDrained(c)
	}
	if r := c.relayIn; r != nil && c.state == stateOpen {
		r.dstReady()
	}
}

// flush writes the out-queue until it is empty or the socket is full,
// then sends FIN if CloseWrite asked for it. It reports whether the queue
// crossed the low-water mark on the way down with an OnDrained owed.
func (c *conn) flush() (drained bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != nil {
		return false, c.sendErr
	}
	for c.out.Len() > 0 {
		iov := c.out.Pending(c.w.iovs[:0], 0)
		n, err := writevFD(c.fd, iov, c.w.iovecs[:])
		clear(iov)
		c.w.iovs = iov[:0]
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.wantWrite = true
			return drained, nil
		case err != nil:
			return false, err
		}
		drained = c.out.Consume(n) || drained
	}
	c.wantWrite = false
	if c.relayIn == nil && c.out.TakeFIN() {
		// ENOTCONN after a reset is reported by the next read.
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	return drained, nil
}

// writevFD is sendmsg(2) with MSG_NOSIGNAL (a write to a reset peer gives
// EPIPE, never SIGPIPE), through iovecs the caller provides so the hot
// path allocates nothing.
func writevFD(fd int, bufs [][]byte, iovecs []unix.Iovec) (int, error) {
	if len(bufs) == 1 {
		return unix.SendmsgN(fd, bufs[0], nil, nil, unix.MSG_NOSIGNAL)
	}
	k := min(len(bufs), len(iovecs))
	for i := 0; i < k; i++ {
		iovecs[i].Base = unsafe.SliceData(bufs[i])
		iovecs[i].SetLen(len(bufs[i]))
	}
	var msg unix.Msghdr
	msg.Iov = &iovecs[0]
	msg.SetIovlen(k)
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	for i := 0; i < k; i++ {
		iovecs[i].Base = nil
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
