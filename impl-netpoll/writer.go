package netpollengine

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
)

// The write path does not use netpoll's Writer. netpoll's Flush blocks the
// caller until the kernel took everything (the contract's Write never
// blocks); while it waits it switches the fd's epoll interest to
// EPOLLIN|EPOLLOUT and back to EPOLLIN (PollR2RW/PollRW2R), which would
// silently undo a PauseRead; and after a peer FIN netpoll deregisters and
// closes its fd, so its Writer cannot serve a half-closed connection.
//
// Instead the engine keeps the *net.TCPConn the socket came from (the
// poller reads a dup of it): a write with nothing queued ahead of it is
// tried at once on the caller's goroutine with one non-blocking
// write(2)/writev(2), which is what netpoll's Flush starts with too; what
// the kernel does not take is queued (bounded by OutQueueLimit), and a
// flusher goroutine writes the queue with writev, waiting for writability
// in the Go runtime's poller, and exits when the queue is empty.

// maxIov is the kernel's IOV_MAX: the most slices one writev takes.
const maxIov = 1024

// Write implements engine.Conn.
func (c *conn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admitLocked(len(b)); err != nil || len(b) == 0 {
		return err
	}
	if c.canWriteNowLocked() {
		n, err := c.tryWriteLocked(func(fd int) (int, error) { return unix.Write(fd, b) })
		if err != nil {
			c.failLocked(err)
			return engine.ErrClosed
		}
		if n == len(b) {
			return nil
		}
		b = b[n:]
	}
	c.appendCopyLocked(b)
	c.queuedLocked(len(b))
	return nil
}

// Writev implements engine.Conn; bufs are queued as they are, not copied.
func (c *conn) Writev(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admitLocked(total); err != nil || total == 0 {
		return err
	}
	if c.canWriteNowLocked() {
		iov := bufs[:min(len(bufs), maxIov)]
		n, err := c.tryWriteLocked(func(fd int) (int, error) { return unix.Writev(fd, iov) })
		if err != nil {
			c.failLocked(err)
			return engine.ErrClosed
		}
		if n == total {
			return nil
		}
		bufs = advance(bufs, n)
		total -= n
	}
	for _, b := range bufs {
		if len(b) > 0 {
			c.out = append(c.out, b)
		}
	}
	c.tailOwned = false
	c.queuedLocked(total)
	return nil
}

// OutQueued implements engine.Conn.
func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outBytes
}

// CloseWrite implements engine.Conn: FIN goes out after the queue.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return engine.ErrClosed
	}
	if c.wclosed {
		return nil
	}
	c.wclosed = true
	c.kickLocked()
	return nil
}

// admitLocked applies the all-or-nothing limit. A refusal arms OnDrained
// so the writer learns when to retry.
func (c *conn) admitLocked(n int) error {
	if c.closing || c.wclosed {
		return engine.ErrClosed
	}
	if c.outBytes+n > c.eng.cfg.OutQueueLimit {
		// A refused writer is owed OnDrained once the queue is at or
		// below low water: now, if it already is (a write too large for
		// a nearly empty queue), else when the flusher gets it there.
		if c.outBytes <= c.eng.cfg.OutQueueLowWater {
			c.drainWanted = false
			_ = c.loop.post(c.runOnDrained, false)
		} else {
			c.drainWanted = true
		}
		return engine.ErrOutQueueFull
	}
	return nil
}

func (c *conn) canWriteNowLocked() bool {
	return c.tcp != nil && !c.flushing && c.outBytes == 0
}

// tryWriteLocked makes one non-blocking attempt; EAGAIN is not an error.
func (c *conn) tryWriteLocked(write func(fd int) (int, error)) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = write(int(fd))
			if werr != unix.EINTR {
				return true
			}
		}
	})
	if n < 0 {
		n = 0
	}
	if err == nil && werr != nil && werr != unix.EAGAIN {
		err = os.NewSyscallError("write", werr)
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
	}
	return n, nil
}

// appendCopyLocked queues a copy of b, coalescing small writes into the
// tail buffer it owns so that many tiny writes become few iovecs.
func (c *conn) appendCopyLocked(b []byte) {
	if c.tailOwned && len(c.out) > 0 {
		tail := c.out[len(c.out)-1]
		if cap(tail)-len(tail) >= len(b) {
			c.out[len(c.out)-1] = append(tail, b...)
			return
		}
	}
	nb := make([]byte, len(b), max(len(b), 4096))
	copy(nb, b)
	c.out = append(c.out, nb)
	c.tailOwned = true
}

// queuedLocked accounts n new bytes, arms OnDrained above high water and
// starts a flusher if none runs.
func (c *conn) queuedLocked(n int) {
	c.outBytes += n
	if c.outBytes > c.eng.cfg.OutQueueHighWater {
		c.drainWanted = true
	}
	c.kickLocked()
}

// kickLocked starts the flusher when there is something to do and the
// socket is free: queued bytes, or a pending FIN.
func (c *conn) kickLocked() {
	if c.tcp == nil || c.closing || c.flushing {
		return
	}
	if c.outBytes == 0 && !(c.wclosed && !c.wshut) {
		return
	}
	c.flushing = true
	c.eng.gs.add()
	go c.flush()
}

// failLocked closes the connection with err from a path holding c.mu.
func (c *conn) failLocked(err error) {
	c.mu.Unlock()
	c.closeWith(err)
	c.mu.Lock()
}

// flush writes the queue until it is empty, then sends FIN if CloseWrite
// asked for it, then exits.
func (c *conn) flush() {
	defer c.eng.gs.done()
	var iovBuf [][]byte // private copy of the slice headers: Write may
	// extend the tail slice in c.out while writev reads this one
	c.mu.Lock()
	for {
		if c.closing {
			break
		}
		if c.outBytes == 0 {
			if c.wclosed && !c.wshut {
				c.wshut = true
				tc := c.tcp
				c.mu.Unlock()
				// An error here means the peer already reset us; the
				// reader reports that.
				_ = tc.CloseWrite()
				c.mu.Lock()
			}
			break
		}
		iov := append(iovBuf[:0], c.out[:min(len(c.out), maxIov)]...)
		iovBuf = iov
		c.mu.Unlock()
		n, err := c.writeBlocking(iov)
		c.mu.Lock()
		if c.closing {
			break
		}
		clear(iov)
		c.consumeLocked(n)
		if err != nil {
			c.flushing = false
			c.failLocked(err)
			c.mu.Unlock()
			return
		}
	}
	c.flushing = false
	c.mu.Unlock()
}

// writeBlocking does one writev, waiting in the netpoller while the socket
// buffer is full.
func (c *conn) writeBlocking(iov [][]byte) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), iov)
			switch werr {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for writability, then call again
			}
			return true
		}
	})
	if n < 0 {
		n = 0
	}
	if err == nil && werr != nil {
		err = os.NewSyscallError("writev", werr)
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return n, err
		}
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
	}
	return n, nil
}

// consumeLocked drops n written bytes from the front of the queue and
// fires OnDrained on the fall to low water.
func (c *conn) consumeLocked(n int) {
	c.outBytes -= n
	for n > 0 {
		if n >= len(c.out[0]) {
			n -= len(c.out[0])
			c.out[0] = nil
			c.out = c.out[1:]
			continue
		}
		c.out[0] = c.out[0][n:]
		n = 0
	}
	if len(c.out) == 0 {
		c.out, c.tailOwned = c.out[:0], false
	}
	if c.drainWanted && c.outBytes <= c.eng.cfg.OutQueueLowWater {
		c.drainWanted = false
		_ = c.loop.post(c.runOnDrained, false)
	}
}

// runOnDrained re-checks on the loop: if the handler queued more since the
// event was posted, the queue may be above low water again, and the event
// waits for the next fall instead of arriving stale.
func (c *conn) runOnDrained() {
	if c.onCloseDone || c.h == nil {
		return
	}
	c.mu.Lock()
	if c.outBytes > c.eng.cfg.OutQueueLowWater {
		c.drainWanted = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.h.OnDrained(c)
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		bufs[0] = bufs[0][n:]
		n = 0
	}
	return bufs
}
