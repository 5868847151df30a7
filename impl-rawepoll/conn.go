package rawepoll

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/core/engine/sockaddr"
	"golang.org/x/sys/unix"
)

// connState is where a connection is in its life (loop-owned).
type connState uint8

const (
	stateNew        connState = iota // placed on a worker, not yet registered there
	stateConnecting                  // non-blocking connect in flight: waits for EPOLLOUT
	stateOpen                        // OnOpen delivered
	stateClosed                      // OnClose delivered (or due), fd closed
)

// conn is one TCP connection on one worker.
type conn struct {
	w      *worker
	fd     int
	fe     *fileEvent
	h      engine.Handler
	accept func(engine.Conn) engine.Handler // accepted conns: builds h on the loop
	laddr  net.Addr                         // guarded by mu; nil until known (LocalAddr)
	raddr  net.Addr

	// Shared with writers on other goroutines.
	mu          sync.Mutex
	out         loopkit.OutQueue // discarded: Close called or closed by the loop
	flushPosted bool             // a flush is posted
	flushFn     func()           // c.postedFlush, made once: a post allocates nothing
	pendRelay   *relay
	sendErr     error // a direct send's error, for the loop to report

	closing   atomic.Bool // Close called, or closed by the loop: no more callbacks
	abort     atomic.Bool // Abort: reset instead of FIN when the fd is closed
	timed     atomic.Bool // AfterFunc was called: the close drops its timers
	spliceReq atomic.Bool // a Splice waits for the loop: hold OnData
	// established: open and not closed, so writers may send directly;
	// relaying: a relay feeds this conn, so they may not (byte order).
	established atomic.Bool
	relaying    atomic.Bool

	// Loop-only.
	state        connState
	paused       bool
	eof          bool   // read side finished (EOF seen, or spliced to EOF)
	eofReported  bool   // OnReadEOF delivered
	wantWrite    bool   // send buffer full: waiting for EPOLLOUT
	rbuf         []byte // rbuf[rstart:rend] is received, not yet consumed
	rstart, rend int
	relay        *relay // splicing from this conn
	relayIn      *relay // splicing into this conn
	dialErr      error  // connect failed at once: reported on the loop
	dialTimer    *loopkit.Timer
	dialDone     bool // connect returned 0 at once
}

func newConn(w *worker, fd int, raddr net.Addr) *conn {
	c := &conn{w: w, fd: fd, raddr: raddr}
	c.out.Init(w.stack.cfg)
	return c
}

// LocalAddr implements engine.Conn: the listener's address, else asked of
// the socket on first use (no getsockname per connection that nobody
// asks; nil once closing, as the fd may be gone: release sets closing
// under mu before closing it).
func (c *conn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.laddr == nil && !c.closing.Load() {
		c.laddr = sockaddr.LocalAddr(c.fd, nil)
	}
	return c.laddr
}

func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// Closed reports a close, processed by the loop or not yet: no more
// callbacks start after it, and (loopkit.Owner) no timer runs.
func (c *conn) Closed() bool { return c.closing.Load() }

// Close implements engine.Conn: the loop closes the socket after the
// current callback and after functions already queued, and delivers
// OnClose(c, nil).
func (c *conn) Close() error {
	c.CloseWith(nil)
	return nil
}

// Abort implements engine.Aborter: Close, with SO_LINGER 0 set on the
// socket just before the loop closes it, so the kernel sends RST, not FIN.
func (c *conn) Abort() error {
	c.abort.Store(true)
	c.CloseWith(nil)
	return nil
}

// CloseWith is Close with OnClose's reason (loopkit.Conn: Shutdown closes
// with ErrEngineClosed). Queued bytes are dropped at once. A refused post
// means the worker has left its loop, which happens only after Shutdown
// closed every registered connection: this one is closed already.
func (c *conn) CloseWith(err error) {
	c.mu.Lock()
	if !c.out.Discard() {
		c.mu.Unlock()
		return
	}
	c.closing.Store(true)
	c.mu.Unlock()
	// This entry is behind every function Execute accepted: OnClose may
	// follow the release at once.
	_ = c.w.center.post(func() {
		if c.release() && c.h != nil {
			c.h.OnClose(c, err)
		}
	})
}

// Execute implements engine.Conn on the worker's external-event queue, in
// one FIFO with the engine's events. Every close marks c closing before
// it posts OnClose, and ExecuteFor checks that mark under the queue's
// lock: fn is either refused or queued ahead of OnClose, unwrapped.
func (c *conn) Execute(fn func()) error {
	ring, err := c.w.center.q.ExecuteFor(c, fn)
	if c.w.center.wake(ring, err) == engine.ErrEngineClosed {
		return engine.ErrClosed
	}
	return err
}

// AfterFunc implements engine.Conn with a time event that the
// connection's close stops.
func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	c.timed.Store(true) // before Add: see closeNow
	return c.w.center.afterFunc(d, c, fn)
}

// PauseRead implements engine.Conn (loop only): EPOLLIN leaves the
// interest, so the kernel's receive buffer fills and TCP pushes back.
func (c *conn) PauseRead() {
	c.paused = true
	c.updateInterest() // no system call when the interest is unchanged
}

// ResumeRead implements engine.Conn (loop only). Buffered bytes are
// delivered first, after the current callback.
func (c *conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	c.updateInterest()
	if c.rend > c.rstart || c.eof {
		_ = c.w.center.post(c.deliver)
	}
}

// postFlush asks the loop to flush what is queued, once until it runs.
func (c *conn) postFlush() {
	c.mu.Lock()
	post := c.needFlushLocked()
	c.mu.Unlock()
	if post {
		_ = c.w.center.post(c.flushFn)
	}
}

func (c *conn) postedFlush() {
	c.mu.Lock()
	c.flushPosted = false
	c.mu.Unlock()
	c.flushAndNotify()
}

// register enters the connection into its worker's loop.
func (c *conn) register() {
	w := c.w
	if c.state != stateNew {
		return // closed before it got here (dial timeout, Close)
	}
	if w.stopping {
		c.closeNow(engine.ErrEngineClosed)
		return
	}
	c.fe = w.center.createFileEvent(c.fd, c.onReadable, c.onWritable)
	if c.accept != nil {
		c.open()
		return
	}
	c.startConnect()
}

// open delivers OnOpen and starts reading (and writing what was queued
// before the connection was established).
func (c *conn) open() {
	c.state = stateOpen
	c.established.Store(true)
	if c.h == nil {
		c.h = c.accept(c)
		c.accept = nil
	}
	c.h.OnOpen(c)
	c.flushAndNotify() // sets the interest
}

// updateInterest derives the epoll interest from the state, exactly: read
// while reading is wanted, write only while a send is blocked.
func (c *conn) updateInterest() {
	if c.fe == nil {
		return // not registered yet, or closed
	}
	var mask uint32
	switch c.state {
	case stateConnecting:
		mask = evWrite
	case stateOpen:
		if c.readWanted() {
			mask |= evRead
		}
		if c.wantWrite || (c.relayIn != nil && c.relayIn.dstBlocked) {
			mask |= evWrite
		}
	}
	if err := c.w.center.setInterest(c.fe, mask); err != nil {
		c.closeNow(c.opError("epoll", err))
	}
}

// readWanted says whether the socket should be read now.
func (c *conn) readWanted() bool {
	if c.eof || c.Closed() {
		return false
	}
	if c.relay != nil {
		return c.relay.wantsSource()
	}
	return !c.paused && !c.spliceReq.Load()
}

// closeNow ends the connection on the loop (an error, EOF handling, a
// failed dial, Shutdown) and reports OnClose once, behind what is already
// queued: Execute functions accepted before the close run first.
func (c *conn) closeNow(err error) {
	if c.release() && c.h != nil {
		_ = c.w.center.post(func() { c.h.OnClose(c, err) })
	}
}

// release stops the connection's timers and relays, leaves the epoll set
// and closes the fd; it reports false if that was done already.
func (c *conn) release() bool {
	if c.state == stateClosed {
		return false
	}
	c.state = stateClosed
	c.established.Store(false)
	c.mu.Lock()
	c.closing.Store(true) // before OnClose is posted: see Execute
	c.out.Discard()
	c.pendRelay = nil
	c.mu.Unlock()
	// closing is set: an AfterFunc that missed timed gets a stopped timer.
	if c.timed.Load() {
		c.w.center.timers.Drop(c) // their memory, not just their runs
	}
	if c.dialTimer != nil {
		c.dialTimer.Stop()
	}
	if r := c.relay; r != nil {
		// The source's OnClose is the only report (as in every engine).
		r.end(nil, false)
	}
	if r := c.relayIn; r != nil {
		r.end(c.opError("splice", engine.ErrClosed), true)
	}
	if c.fe != nil {
		c.w.center.deleteFileEvent(c.fe)
		c.fe = nil
	}
	if c.abort.Load() {
		_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	// Never retried on EINTR: Linux has released the fd by then, and a
	// retry could close a descriptor another thread was just given.
	unix.Close(c.fd)
	if c.rbuf != nil {
		c.w.putReadBuffer(c.rbuf)
		c.rbuf = nil
	}
	c.w.stack.reg.RemoveConn(c)
	c.w.load.Add(-1)
	return true
}
