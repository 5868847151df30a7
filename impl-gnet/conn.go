package gnetengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"github.com/netmodels/netmodels/core/engine/sockaddr"
)

// conn implements engine.Conn over a gnet.Conn.
//
// The engine writes the socket itself. A write larger than the out-queue's
// high-water mark with nothing queued ahead goes to the socket at once, as
// gnet's own Conn.Write does (no copy, and no queue above high water to
// pause the writer's source for). Smaller writes go to a loopkit.OutQueue,
// written on the loop at the end of the current callback when written from
// one (several writes, one writev), else through one posted flush. gnet's
// own outbound buffer stays empty, so gnet never re-arms EPOLLIN behind a
// PauseRead and OutQueued is exact.
type conn struct {
	e       *Engine
	h       engine.Handler
	flushFn func() // c.flush, made once: a post does not allocate

	// Set once at open, then read-only.
	accept func(engine.Conn) engine.Handler // an accepted conn's handler factory
	gc     gnet.Conn
	loop   *loop
	fd     int
	laddr  net.Addr
	raddr  net.Addr

	mu       sync.Mutex // guards the fields below; nests inside nothing; flags last (one word: conn is 320 B)
	out      loopkit.OutQueue
	preOpen  []func()
	sendErr  error       // a direct send's error, for the next flush to close with
	closeErr error       // reason recorded by CloseWith before gnet reports
	flushing bool        // a flush is posted
	opened   bool        // OnOpen delivered
	local    bool        // closed by Close/CloseWith, not by the peer
	closing  atomic.Bool // Close called or OnClose under way: no more callbacks
	onClosed atomic.Bool // OnClose delivered

	// Loop-only state.
	paused  bool
	waiting bool            // waitWritable's goroutine is waiting
	iov     [][]byte        // scratch for flush's writev
	wfile   *os.File        // dup of the socket in Go's netpoller, for waitWritable
	wrc     syscall.RawConn // wfile's; with drain and woke made once, so a wait allocates nothing of ours
	drain   func()          // drainOnce, for the go statement
	woke    func()          // posted when the socket is writable again
}

var _ engine.Conn = (*conn)(nil)

func newConn(e *Engine, h engine.Handler) *conn {
	c := &conn{e: e, h: h, fd: -1}
	c.flushFn = c.flush
	c.out.Init(e.cfg)
	return c
}

// Closed implements loopkit.Owner: the connection's timers stop running.
func (c *conn) Closed() bool { return c.closing.Load() }

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// dial runs in its own goroutine: connect with the standard library, then
// enroll the socket on a gnet loop, whose OnOpen finishes the job.
func (c *conn) dial(addr string, timeout time.Duration, near *conn) {
	nc, err := sockaddr.DialTCP(context.Background(), addr, timeout) // no SO_KEEPALIVE, as HAProxy
	if err == nil {
		_ = nc.SetNoDelay(!c.e.cfg.Nagle)
		if err = c.enroll(nc, near); err == nil {
			return
		}
		_ = nc.Close()
		err = &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	// With Near, OnClose must not overlap Near's callbacks: deliver it on
	// Near's loop. Otherwise no loop exists for c yet.
	if near == nil || near.loop == nil || near.loop.post(func() { c.failDial(err) }) != nil {
		c.failDial(err)
	}
}

// enroll hands a connected socket to gnet: Near's loop, else the client's.
// gnet dups the fd and closes nc.
func (c *conn) enroll(nc net.Conn, near *conn) error {
	if c.closing.Load() {
		return engine.ErrClosed
	}
	if near != nil && near.loop != nil {
		ch, err := near.loop.el.Enroll(gnet.NewContext(context.Background(), c), nc)
		if err != nil {
			return err
		}
		return (<-ch).Err
	}
	cli, err := c.e.clientEngine()
	if err == nil {
		_, err = cli.EnrollContext(nc, c)
	}
	return err
}

// failDial reports a connection that never reached a loop. No other
// callback can run for it, so OnClose is delivered from the dialer; after
// a Close during the dial it carries Close's reason.
func (c *conn) failDial(err error) {
	c.mu.Lock()
	c.closing.Store(true)
	c.preOpen = nil
	if c.local {
		err = c.closeErr
	}
	c.mu.Unlock()
	c.e.reg.RemoveConn(c)
	c.deliverClose(err)
}

func (c *conn) deliverClose(err error) {
	if c.onClosed.CompareAndSwap(false, true) {
		c.h.OnClose(c, err)
	}
}

// open binds c to its gnet connection and delivers OnOpen, after
// newHandler for an accepted one (loop only, from gnet's OnOpen).
func (c *conn) open(gc gnet.Conn, newHandler func(engine.Conn) engine.Handler) {
	c.gc, c.fd = gc, gc.Fd()
	c.loop = c.e.loopOf(gc.EventLoop())
	// gnet reports an accepted connection's LocalAddr as the listener's
	// configured address (":0" stays port 0), and a send-proxy header
	// needs the real destination. gnet's addresses are not ours to keep.
	c.laddr, c.raddr = sockaddr.LocalAddr(c.fd, gc.LocalAddr()), sockaddr.CloneAddr(gc.RemoteAddr())
	c.loop.callback(func() {
		if newHandler != nil {
			c.h = newHandler(c)
		}
		c.h.OnOpen(c)
		c.mu.Lock()
		c.opened = true
		pre := c.preOpen
		c.preOpen = nil
		wantClose := c.out.Discarded()
		c.mu.Unlock()
		for _, fn := range pre {
			fn()
		}
		c.scheduleFlush()
		if wantClose {
			_ = gc.Close()
		}
	})
}

func (c *conn) Write(b []byte) error { return c.write(b, nil) }

func (c *conn) Writev(bufs [][]byte) error { return c.write(nil, bufs) }

func (c *conn) write(b []byte, bufs [][]byte) error {
	n := loopkit.Size(b, bufs)
	c.mu.Lock()
	drainNow, err := c.out.Admit(n)
	if err == nil && n > c.e.cfg.OutQueueHighWater && len(bufs) <= loopkit.MaxIov && c.canSendNowLocked() {
		b, bufs = c.sendNowLocked(b, bufs)
	}
	if err == nil { // what a send left: a copy of b, or bufs as given
		c.out.AppendCopy(b)
		c.out.AppendOwned(bufs)
	}
	c.mu.Unlock()
	if drainNow {
		// OnDrained on the loop as an engine event, or after OnOpen.
		if queued, _ := c.beforeOpen(c.drained); !queued {
			_ = c.loop.post(c.drained)
		}
	}
	if err == nil {
		c.scheduleFlush()
	}
	return err
}

// canSendNowLocked says whether a write may go to the socket from the
// writer's goroutine: the connection is open, not closing, and nothing is
// queued ahead, so order holds and no flush's writev is in flight (a flush
// writes only what is queued, and consumes it after the writev; while
// waitWritable waits, bytes are queued too). Holding c.mu also keeps the
// fd valid: gnet closes it after OnClose, which takes c.mu after setting
// closing.
func (c *conn) canSendNowLocked() bool {
	return c.opened && !c.closing.Load() && c.out.Len() == 0 && c.sendErr == nil
}

// sendNowLocked makes one non-blocking write of b (or bufs) and returns
// what the kernel did not take, for the queue. An error other than
// EAGAIN/EINTR is kept for the loop's flush, which closes with it (the
// kernel reports a socket error once), and the bytes are queued.
func (c *conn) sendNowLocked(b []byte, bufs [][]byte) ([]byte, [][]byte) {
	var n int
	var err error
	if bufs == nil {
		n, err = unix.Write(c.fd, b)
	} else {
		n, err = unix.Writev(c.fd, bufs)
	}
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR {
			c.sendErr = err
		}
		return b, bufs
	}
	if bufs == nil {
		return b[n:], nil
	}
	return nil, loopkit.Advance(bufs, n)
}

// drained delivers an OnDrained that came due (loop only).
func (c *conn) drained() {
	c.mu.Lock()
	due := c.out.DrainStillDue()
	c.mu.Unlock()
	if due && !c.closing.Load() {
		c.h.OnDrained(c)
	}
}

// scheduleFlush makes sure queued bytes reach the socket soon: one posted
// flush, which runs at the end of the current callback when on the loop
// (loop.callback) and otherwise wakes the loop.
func (c *conn) scheduleFlush() {
	c.mu.Lock()
	post := !c.flushing && c.opened && (c.out.Len() > 0 || c.out.FINPending() || c.sendErr != nil)
	c.flushing = c.flushing || post
	c.mu.Unlock()
	if post {
		_ = c.loop.post(c.flushFn) // fails only once the loop, and c, are gone
	}
}

// flush writes the queue to the socket until it is empty or the socket is
// full (then waitWritable flushes again), and sends a pending FIN (loop
// only).
func (c *conn) flush() {
	for !c.waiting && !c.onClosed.Load() {
		c.mu.Lock()
		c.flushing = false // a write from now on posts another flush
		if err := c.sendErr; err != nil {
			c.mu.Unlock()
			c.CloseWith(fmt.Errorf("gnet: write %s: %w", c.raddr, err))
			return
		}
		c.iov = c.out.Pending(c.iov[:0], 0)
		fin := len(c.iov) == 0 && c.out.TakeFIN()
		c.mu.Unlock()
		if len(c.iov) == 0 {
			if fin {
				if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
					c.CloseWith(fmt.Errorf("gnet: shutdown %s: %w", c.raddr, err))
				}
			}
			return
		}
		n, err := unix.Writev(c.fd, c.iov)
		clear(c.iov)
		if n > 0 {
			c.mu.Lock()
			drained := c.out.Consume(n)
			c.mu.Unlock()
			if drained {
				c.drained()
			}
		}
		switch err {
		case nil, unix.EINTR:
		case unix.EAGAIN:
			c.waitWritable()
		default:
			c.CloseWith(fmt.Errorf("gnet: write %s: %w", c.raddr, err))
		}
	}
}

// waitWritable flushes again once the full socket can take more bytes
// (loop only). gnet's EPOLLOUT handling serves only its own outbound
// buffer and reports nothing, so a goroutine waits for writability in Go's
// netpoller on a dup of the socket (Conn.Dup). The level check before each
// wait means no edge is lost.
func (c *conn) waitWritable() {
	if c.wfile == nil {
		fd, err := c.gc.Dup()
		if err != nil {
			c.CloseWith(fmt.Errorf("gnet: dup %s: %w", c.raddr, err))
			return
		}
		c.wfile = os.NewFile(uintptr(fd), "gnet-drain")
		if c.wrc, err = c.wfile.SyscallConn(); err != nil {
			c.CloseWith(fmt.Errorf("gnet: dup %s: %w", c.raddr, err))
			return
		}
		c.drain, c.woke = c.drainOnce, func() { c.waiting = false; c.flush() }
	}
	c.waiting = true
	c.e.reg.Add()
	go c.drain()
}

// drainOnce waits on its own goroutine until the socket can take bytes,
// then flushes on the loop. An error means the connection closed the
// file: no flush is owed.
func (c *conn) drainOnce() {
	defer c.e.reg.Done()
	if c.wrc.Write(writable) == nil {
		_ = c.loop.post(c.woke)
	}
}

func writable(fd uintptr) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(p, 0)
	return err != nil || (n > 0 && p[0].Revents != 0)
}

func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len()
}

func (c *conn) CloseWrite() error {
	c.mu.Lock()
	err := c.out.CloseWrite()
	c.mu.Unlock()
	c.scheduleFlush()
	return err
}

func (c *conn) Close() error { c.CloseWith(nil); return nil }

// CloseWith closes the connection, dropping what is queued; reason
// becomes OnClose's error (loopkit.Conn).
// closing and local change together under c.mu, so a failed dial that
// sees closing also sees the reason.
func (c *conn) CloseWith(reason error) {
	c.mu.Lock()
	first := !c.closing.Swap(true)
	if first {
		c.local, c.closeErr = true, reason
		c.out.Discard()
	}
	opened := c.opened
	c.mu.Unlock()
	if first && opened {
		_ = c.gc.Close()
	}
}

func (c *conn) PauseRead()  { c.setPaused(true) }
func (c *conn) ResumeRead() { c.setPaused(false) }

// setPaused makes the socket's epoll registration match (loop only);
// without the adapter the connection cannot honour a pause and closes with
// the reason. A resume then delivers what arrived before the pause.
func (c *conn) setPaused(p bool) {
	was := c.paused
	c.paused = p
	if was == p || c.gc == nil {
		return
	}
	err := c.loop.epErr
	if err == nil && !c.onClosed.Load() {
		err = setInterest(c.loop.epfd, c.fd, !p)
	}
	if err != nil {
		c.CloseWith(fmt.Errorf("gnet: pause %s: %w", c.raddr, err))
	} else if !p && c.gc.InboundBuffered() > 0 {
		_ = c.loop.post(c.deliver)
	}
}

// deliver calls OnData while the handler makes progress (loop only). A
// paused connection can still meet an event gnet fetched before a
// PauseRead made from another connection's callback: the read stays
// buffered.
func (c *conn) deliver() {
	for !c.paused && !c.closing.Load() {
		// gnet's inbound buffer may hold more than ReadBufferSize (what
		// a handler left plus the next read); offer at most that much.
		n := min(c.gc.InboundBuffered(), c.e.cfg.ReadBufferSize)
		if n == 0 {
			return
		}
		buf, err := c.gc.Peek(n)
		if err != nil {
			return
		}
		used := c.h.OnData(c, buf)
		if err := engine.CheckConsumed(used, n); err != nil {
			c.CloseWith(fmt.Errorf("gnet: read %s: %w", c.raddr, err))
			return
		}
		if used == 0 {
			if n >= c.e.cfg.ReadBufferSize {
				c.CloseWith(fmt.Errorf("gnet: read %s: %w", c.raddr, engine.ErrReadBufferFull))
			}
			return
		}
		_, _ = c.gc.Discard(used)
	}
}

func (c *conn) Execute(fn func()) error {
	if c.onClosed.Load() {
		return engine.ErrClosed
	}
	if queued, err := c.beforeOpen(fn); queued {
		return err
	}
	return c.loop.woke(c.loop.q.Execute(func() {
		if !c.onClosed.Load() {
			fn()
		}
	}))
}

// beforeOpen queues fn to run right after OnOpen while a dial is in
// progress (c has no loop yet), bounded by Config.ExecuteQueueLimit. It
// reports queued false once c is open: the caller uses c.loop.
func (c *conn) beforeOpen(fn func()) (queued bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.opened:
		return false, nil
	case c.closing.Load():
		return true, engine.ErrClosed
	case len(c.preOpen) >= c.e.cfg.ExecuteQueueLimit:
		return true, engine.ErrExecuteQueueFull
	}
	c.preOpen = append(c.preOpen, fn)
	return true, nil
}

// AfterFunc puts a timer on the connection's loop (owned by c: it never
// runs once c closes); before OnOpen through beforeOpen.
func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	at := loopkit.Deadline(d)
	t := new(loopkit.PendingTimer)
	queued, err := c.beforeOpen(func() { t.Start(&c.loop.timers, c, at, fn) })
	if !queued {
		return c.loop.timers.Add(c, at, fn)
	}
	if err != nil {
		t.Stop() // closed or full: fn will never run
	}
	return t
}

// eventHandler adapts the engine's gnet client to the contract.
type eventHandler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

// OnOpen: every socket, accepted or dialed, is enrolled with its conn as
// the context.
func (h *eventHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c, ok := gc.Context().(*conn)
	if !ok {
		return nil, gnet.Close
	}
	c.open(gc, c.accept)
	return nil, gnet.None
}

func (h *eventHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	if c, ok := gc.Context().(*conn); ok {
		c.loop.callback(c.deliver)
	}
	return gnet.None
}

// OnClose tells the handler why: its own CloseWith's reason, the engine's
// shutdown, the peer's FIN (OnReadEOF first, then ErrNoHalfClose unless
// the handler closed in it) or gnet's error.
func (h *eventHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.e.reg.RemoveConn(c)
	reason, local := c.closedBy()
	switch {
	case local:
	case h.e.reg.Closed():
		reason = engine.ErrEngineClosed
	case errors.Is(err, io.EOF):
		c.loop.callback(func() { c.h.OnReadEOF(c) })
		if reason, local = c.closedBy(); !local {
			reason = fmt.Errorf("gnet: %s: %w", c.raddr, ErrNoHalfClose)
		}
	case err != nil:
		reason = fmt.Errorf("gnet: %s: %w", c.raddr, err)
	}
	c.closing.Store(true)
	c.loop.timers.Drop(c) // spec §6: a closed connection's timers give their memory back now
	c.mu.Lock()
	c.out.Discard()
	c.mu.Unlock()
	if c.wfile != nil {
		_ = c.wfile.Close() // ends waitWritable's goroutine
	}
	c.loop.callback(func() { c.deliverClose(reason) })
	return gnet.None
}

// closedBy reports CloseWith's reason and whether it was called.
func (c *conn) closedBy() (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr, c.local
}
