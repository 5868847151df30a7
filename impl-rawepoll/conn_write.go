package rawepoll

import (
	"unsafe"

	"github.com/netmodels/netmodels/core/engine"
	"golang.org/x/sys/unix"
)

// The write path. A write with nothing queued ahead goes to the socket at
// once, from whichever thread calls Write (the loop's or another): no copy,
// no hand-off, which is what request/response traffic wants. What the
// kernel does not take is copied into the out-queue under c.mu and one
// opFlush is posted; the loop then sends the queue with sendmsg of up to
// iovMax slices, asking for EPOLLOUT only while the kernel's send buffer is
// full (EAGAIN).

const (
	// iovMax is Linux's IOV_MAX: the most slices one sendmsg takes.
	iovMax = 1024
)

// Write implements engine.Conn, all or nothing. With nothing queued
// ahead, the bytes go to the kernel at once from the caller's thread (one
// non-blocking send, no copy); only what the kernel does not take is
// copied into the out-queue for the loop.
func (c *conn) Write(b []byte) error {
	c.mu.Lock()
	if err := c.admitLocked(len(b)); err != nil {
		c.mu.Unlock()
		return err
	}
	if len(b) > 0 && c.canSendNowLocked() {
		var iov [1][]byte
		iov[0] = b
		n := c.sendNowLocked(iov[:], nil)
		b = b[n:]
	}
	if len(b) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.appendCopyLocked(b)
	post := c.queuedLocked(len(b))
	c.mu.Unlock()
	if post {
		c.w.center.postOp(c, opFlush)
	}
	return nil
}

// Writev implements engine.Conn: the slices are sent at once as for Write,
// and what remains is queued as it is (the caller gave up ownership), all
// or nothing.
func (c *conn) Writev(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	c.mu.Lock()
	if err := c.admitLocked(total); err != nil {
		c.mu.Unlock()
		return err
	}
	if total > 0 && len(bufs) <= directIov && c.canSendNowLocked() {
		var iovecs [directIov]unix.Iovec
		n := c.sendNowLocked(bufs, iovecs[:])
		total -= n
		for n > 0 {
			if n < len(bufs[0]) {
				bufs[0] = bufs[0][n:]
				break
			}
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
	}
	if total == 0 {
		c.mu.Unlock()
		return nil
	}
	for _, b := range bufs {
		if len(b) > 0 {
			c.outq = append(c.outq, outBuf{b: b})
		}
	}
	post := c.queuedLocked(total)
	c.mu.Unlock()
	if post {
		c.w.center.postOp(c, opFlush)
	}
	return nil
}

// directIov bounds the slices a direct Writev sends (the iovecs live on
// the writer's stack); longer vectors go through the loop.
const directIov = 64

// canSendNowLocked says whether a write may go straight to the socket:
// it is connected, nothing is queued ahead (so order holds), no relay is
// feeding it and no error is pending. The loop's own flush holds c.mu
// too, so the two never interleave.
func (c *conn) canSendNowLocked() bool {
	return c.outBytes == 0 && c.sendErr == nil && c.established.Load() && !c.relaying.Load()
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
		if !c.flushPosted {
			c.flushPosted = true
			// postOp takes the center's lock, never c.mu: safe here.
			c.w.center.postOp(c, opFlush)
		}
	}
	return 0
}

// admitLocked applies the contract's limits before anything is queued.
func (c *conn) admitLocked(n int) error {
	if c.closed || c.wclosed {
		return engine.ErrClosed
	}
	if c.outBytes+n > c.w.stack.cfg.OutQueueLimit {
		// The refused writer waits for OnDrained: make sure one comes even
		// if this write alone is larger than limit minus high water.
		if c.outBytes > 0 {
			c.aboveHigh = true
		}
		return engine.ErrOutQueueFull
	}
	return nil
}

// queuedLocked accounts n new bytes and says whether a flush must be
// posted (one is not already pending).
func (c *conn) queuedLocked(n int) bool {
	c.accountLocked(n)
	if c.flushPosted || n == 0 {
		return false
	}
	c.flushPosted = true
	return true
}

// accountLocked adds n queued bytes and notes a high-water crossing.
func (c *conn) accountLocked(n int) {
	c.outBytes += n
	if c.outBytes > c.w.stack.cfg.OutQueueHighWater {
		c.aboveHigh = true
	}
}

func (c *conn) appendCopyLocked(b []byte) {
	if n := len(c.outq); n > 0 {
		t := &c.outq[n-1]
		if t.owned && cap(t.b)-len(t.b) >= len(b) {
			t.b = append(t.b, b...)
			return
		}
	}
	chunk := getChunk(len(b))
	c.outq = append(c.outq, outBuf{b: append(chunk, b...), owned: true})
}

// OutQueued implements engine.Conn.
func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outBytes
}

// CloseWrite implements engine.Conn: shutw once everything queued so far
// (and any splice into this connection) has gone out.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	if c.wclosed {
		c.mu.Unlock()
		return nil
	}
	c.wclosed = true
	post := !c.flushPosted
	c.flushPosted = true
	c.mu.Unlock()
	if post {
		c.w.center.postOp(c, opFlush)
	}
	return nil
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
	if drained && !c.isClosing() {
		c.h.OnDrained(c)
	}
	if r := c.relayIn; r != nil && c.state == stateOpen {
		r.dstReady()
	}
}

// flush writes the out-queue until it is empty or the socket is full,
// then sends FIN if CloseWrite asked for it. It reports whether the queue
// crossed the low-water mark on the way down.
func (c *conn) flush() (drained bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != nil {
		return false, c.sendErr
	}
	for c.outBytes > 0 {
		iov := c.w.iovs[:0]
		for i, ob := range c.outq {
			if len(iov) == iovMax {
				break
			}
			b := ob.b
			if i == 0 {
				b = b[c.outHead:]
			}
			iov = append(iov, b)
		}
		c.w.iovs = iov
		n, err := writevFD(c.fd, iov, c.w.iovecs[:])
		clear(iov)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			c.wantWrite = true
			break
		}
		if err != nil {
			return false, err
		}
		c.consumeLocked(n)
	}
	cfg := &c.w.stack.cfg
	if c.outBytes == 0 {
		c.wantWrite = false
		if c.wclosed && !c.shutDone && c.relayIn == nil {
			c.shutDone = true
			// ENOTCONN after a reset is reported by the next read.
			_ = unix.Shutdown(c.fd, unix.SHUT_WR)
		}
	}
	if c.aboveHigh && c.outBytes <= cfg.OutQueueLowWater {
		c.aboveHigh = false
		drained = true
	}
	return drained, nil
}

// consumeLocked drops n sent bytes from the front of the queue and
// recycles the chunks it copied.
func (c *conn) consumeLocked(n int) {
	c.outBytes -= n
	for n > 0 && len(c.outq) > 0 {
		ob := &c.outq[0]
		rest := len(ob.b) - c.outHead
		if n < rest {
			c.outHead += n
			return
		}
		n -= rest
		if ob.owned {
			putChunk(ob.b)
		}
		*ob = outBuf{}
		c.outq = c.outq[1:]
		c.outHead = 0
	}
	if len(c.outq) == 0 {
		c.outq = c.outq[:0:0] // let the backing array go once idle
	}
}

// writevFD is sendmsg(2) with MSG_NOSIGNAL (a write to a reset peer gives
// EPIPE, never SIGPIPE), through iovecs the caller provides so the hot
// path allocates nothing.
func writevFD(fd int, bufs [][]byte, iovecs []unix.Iovec) (int, error) {
	if len(bufs) == 1 {
		b := bufs[0]
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
		if e != 0 {
			return 0, e
		}
		return int(n), nil
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
