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
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
)

// conn implements engine.Conn over a gnet.Conn.
//
// Writes go to the engine's own bounded queue (mu-protected, shared with
// the loop's mutex for the dirty list) and are handed to gnet on the loop:
// at the end of the current callback when written from one, else through
// one coalesced Execute. OutQueued counts both that queue and gnet's
// outbound buffer.
type conn struct {
	e *Engine
	h engine.Handler

	// Set once at open, then read-only.
	gc    gnet.Conn
	loop  *loop
	fd    int
	laddr net.Addr
	raddr net.Addr

	mu        sync.Mutex // guards the fields below; nests inside nothing
	queue     [][]byte
	queued    int  // bytes in queue
	flushing  bool // a flush is scheduled or dirty-listed
	closed    bool // Close/CloseWrite refuse writes from now on
	shutw     bool // CloseWrite requested
	preOpen   []func()
	opened    bool
	closeErr  error // reason recorded by closeWith before gnet reports
	local     bool  // closed by Close/closeWith, not by the peer
	outbound  atomic.Int64
	ctxValue  atomic.Value
	onClosed  atomic.Bool // OnClose delivered
	dialErr   error
	closeOnce sync.Once

	aboveHigh bool // queue rose above high water; OnDrained owed

	// Loop-only state.
	paused    bool
	shutwDone bool
	waiting   bool     // waitWritable's goroutine is waiting
	wfile     *os.File // dup of the socket in Go's netpoller, for waitWritable
}

var _ engine.Conn = (*conn)(nil)

func newConn(e *Engine, h engine.Handler) *conn {
	return &conn{e: e, h: h, fd: -1}
}

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

func (c *conn) SetContext(v any) { c.ctxValue.Store(ctxBox{v}) }
func (c *conn) Context() any {
	if b, ok := c.ctxValue.Load().(ctxBox); ok {
		return b.v
	}
	return nil
}

type ctxBox struct{ v any }

// dial runs in its own goroutine: connect with the standard library, then
// enroll the socket on a gnet loop, whose OnOpen finishes the job.
func (c *conn) dial(addr string, timeout time.Duration, near *conn) {
	fail := func(err error) {
		// With Near, OnClose must not overlap Near's callbacks: deliver it
		// on Near's loop. Otherwise no loop exists for c yet.
		if near != nil && near.loop != nil && near.loop.execute(func() { c.failDial(err) }) == nil {
			return
		}
		c.failDial(err)
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		fail(err)
		return
	}
	if !c.e.cfg.DelayedAcks {
		_ = nc.(*net.TCPConn).SetNoDelay(true)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		_ = nc.Close()
		fail(nil)
		return
	}
	if near != nil && near.gc != nil {
		ch, err := near.gc.EventLoop().Enroll(gnet.NewContext(context.Background(), c), nc)
		if err == nil {
			if res := <-ch; res.Err != nil {
				err = res.Err
			}
		}
		if err != nil {
			_ = nc.Close()
			fail(&net.OpError{Op: "dial", Net: "tcp", Err: err})
		}
		return
	}
	cli, err := c.e.clientEngine()
	if err != nil {
		_ = nc.Close()
		fail(&net.OpError{Op: "dial", Net: "tcp", Err: err})
		return
	}
	if _, err := cli.EnrollContext(nc, c); err != nil {
		fail(&net.OpError{Op: "dial", Net: "tcp", Err: err})
	}
}

// failDial reports a connection that never reached a loop. No other
// callback can run for it, so OnClose is delivered from the dialer.
func (c *conn) failDial(err error) {
	c.mu.Lock()
	c.closed = true
	c.preOpen = nil
	if err == nil {
		err = c.closeErr
	}
	c.mu.Unlock()
	c.e.unregister(c)
	c.deliverClose(err)
}

func (c *conn) deliverClose(err error) {
	c.closeOnce.Do(func() {
		c.onClosed.Store(true)
		c.h.OnClose(c, err)
	})
}

// opened runs on the loop from gnet's OnOpen.
func (c *conn) open(gc gnet.Conn) {
	c.gc = gc
	c.loop = c.e.loopOf(gc.EventLoop())
	c.fd = gc.Fd()
	c.laddr = sockName(c.fd, gc.LocalAddr())
	c.raddr = copyAddr(gc.RemoteAddr())
	c.loop.callback(func() {
		c.h.OnOpen(c)
		c.mu.Lock()
		c.opened = true
		pre := c.preOpen
		c.preOpen = nil
		wantClose := c.closed && !c.shutw
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

// sockName is the socket's real local address. gnet reports an accepted
// connection's LocalAddr as the listener's configured address (":0" stays
// port 0), and a send-proxy header needs the real destination.
func sockName(fd int, fallback net.Addr) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err == nil {
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
		case *unix.SockaddrInet6:
			return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
		}
	}
	return copyAddr(fallback)
}

func copyAddr(a net.Addr) net.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		cp := *ta
		cp.IP = append(net.IP(nil), ta.IP...)
		return &cp
	}
	return a
}

func (c *conn) Write(b []byte) error {
	return c.Writev([][]byte{append([]byte(nil), b...)})
}

func (c *conn) Writev(bufs [][]byte) error {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	c.mu.Lock()
	if c.closed || c.shutw {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	if c.queued+int(c.outbound.Load())+n > c.e.cfg.OutQueueLimit {
		c.mu.Unlock()
		return engine.ErrOutQueueFull
	}
	c.queue = append(c.queue, bufs...)
	c.queued += n
	if c.queued+int(c.outbound.Load()) > c.e.cfg.OutQueueHighWater {
		c.aboveHigh = true
	}
	c.mu.Unlock()
	c.scheduleFlush()
	return nil
}

// scheduleFlush makes sure queued bytes reach gnet soon: at the end of the
// current callback when on the loop, else through one Execute.
func (c *conn) scheduleFlush() {
	c.mu.Lock()
	if c.flushing || !c.opened || (c.queued == 0 && !c.shutw) {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	c.mu.Unlock()
	l := c.loop
	l.mu.Lock()
	listed := l.markDirty(c)
	l.mu.Unlock()
	if listed {
		return
	}
	if err := l.execute(c.flush); err != nil {
		// The loop is gone or saturated; the bytes stay queued and the
		// connection is closing or will be flushed by the next callback.
		c.mu.Lock()
		c.flushing = false
		c.mu.Unlock()
	}
}

// flush runs on the loop: hand the queue to gnet, then check the marks.
func (c *conn) flush() {
	c.mu.Lock()
	bufs := c.queue
	n := c.queued
	c.queue, c.queued = nil, 0
	c.flushing = false
	c.mu.Unlock()
	if c.onClosed.Load() {
		return
	}
	if len(bufs) > 0 {
		if len(bufs) > maxIOV {
			bufs = coalesce(bufs, n)
		}
		if _, err := c.gc.Writev(bufs); err != nil || c.onClosed.Load() {
			return // gnet closed the connection and reported OnClose
		}
	}
	if c.paused {
		// gnet's ModReadWrite turned EPOLLIN back on.
		c.applyInterest()
	}
	c.checkMarks()
}

// maxIOV keeps one writev under the kernel's IOV_MAX (1024): gnet passes
// the slices through as they are.
const maxIOV = 512

// coalesce copies many small buffers into a few large ones.
func coalesce(bufs [][]byte, total int) [][]byte {
	const chunk = 256 << 10
	out := make([][]byte, 0, total/chunk+1)
	cur := make([]byte, 0, min(total, chunk))
	for _, b := range bufs {
		for len(b) > 0 {
			if len(cur) == cap(cur) {
				out = append(out, cur)
				total -= len(cur)
				cur = make([]byte, 0, min(total, chunk))
			}
			k := copy(cur[len(cur):cap(cur)], b)
			cur = cur[:len(cur)+k]
			b = b[k:]
		}
	}
	return append(out, cur)
}

// checkMarks updates the outbound mirror, fires OnDrained, performs a
// pending shutw, and keeps polling gnet's buffer while above the mark.
func (c *conn) checkMarks() {
	out := c.gc.OutboundBuffered()
	c.outbound.Store(int64(out))
	cfg := &c.e.cfg
	c.mu.Lock()
	total := c.queued + out
	shutw := c.shutw
	if total > cfg.OutQueueHighWater {
		c.aboveHigh = true
	}
	drained := c.aboveHigh && total <= cfg.OutQueueLowWater
	if drained {
		c.aboveHigh = false
	}
	above := c.aboveHigh
	c.mu.Unlock()
	if drained && !c.isClosing() {
		c.h.OnDrained(c)
		if c.onClosed.Load() {
			return
		}
	}
	if shutw && !c.shutwDone && total == 0 {
		c.shutwDone = true
		if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
			_ = c.gc.Close()
			return
		}
	}
	if (above || (shutw && !c.shutwDone)) && out > 0 {
		c.waitWritable()
	}
}

// waitWritable runs checkMarks again once the socket can take more bytes
// (loop only). gnet flushes its outbound buffer on that same readiness but
// reports nothing when it drains, so a goroutine waits for it in Go's
// netpoller on a dup of the socket instead of polling gnet's buffer. The
// level check before each wait means no edge is lost: either the socket is
// writable now (check again on the next loop pass, after gnet's flush) or
// it is full and its next edge wakes the waiter.
func (c *conn) waitWritable() {
	if c.waiting {
		return
	}
	if c.wfile == nil {
		fd, err := c.gc.Dup()
		if err != nil {
			_ = c.closeWith(fmt.Errorf("gnet: dup %s: %w", c.raddr, err))
			return
		}
		c.wfile = os.NewFile(uintptr(fd), "gnet-drain")
	}
	c.waiting = true
	f := c.wfile
	c.e.bg.Add(1)
	go func() {
		defer c.e.bg.Done()
		rc, err := f.SyscallConn()
		if err == nil {
			err = rc.Write(func(fd uintptr) bool { return writable(int(fd)) })
		}
		if err != nil {
			return // the connection closed the file
		}
		c.loop.post(func() {
			c.waiting = false
			if !c.onClosed.Load() {
				c.checkMarks()
			}
		})
	}()
}

func writable(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(p, 0)
	return err != nil || (n > 0 && p[0].Revents != 0)
}

func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued + int(c.outbound.Load())
}

func (c *conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed || c.shutw {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	c.shutw = true
	c.mu.Unlock()
	c.scheduleFlush()
	return nil
}

func (c *conn) Close() error {
	return c.closeWith(nil)
}

// closeWith closes the connection; reason becomes OnClose's error.
func (c *conn) closeWith(reason error) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.local = true
	c.closeErr = reason
	c.queue, c.queued = nil, 0
	opened := c.opened
	c.mu.Unlock()
	if opened && c.gc != nil {
		return c.gc.Close()
	}
	return nil
}

// isClosing reports a local Close: no OnData is delivered after it.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed || c.onClosed.Load()
}

func (c *conn) PauseRead() {
	if c.paused {
		return
	}
	c.paused = true
	if c.gc != nil {
		c.applyInterest()
	}
}

func (c *conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.gc == nil {
		return
	}
	c.applyInterest()
	if c.gc.InboundBuffered() > 0 {
		_ = c.loop.execute(c.deliver)
	}
}

// applyInterest makes the epoll registration match paused and gnet's
// pending output.
func (c *conn) applyInterest() {
	if c.onClosed.Load() {
		return
	}
	err := c.loop.epErr
	if err == nil {
		err = setInterest(c.loop.epfd, c.fd, !c.paused, c.gc.OutboundBuffered() > 0)
	}
	if err != nil {
		_ = c.closeWith(fmt.Errorf("gnet: pause %s: %w", c.raddr, err))
	}
}

// deliver calls OnData while the handler makes progress (loop only).
func (c *conn) deliver() {
	for !c.paused && !c.isClosing() {
		// gnet's inbound buffer may hold more than ReadBufferSize (a read
		// that slipped in while paused); offer at most that much.
		n := min(c.gc.InboundBuffered(), c.e.cfg.ReadBufferSize)
		if n == 0 {
			return
		}
		buf, err := c.gc.Peek(n)
		if err != nil {
			return
		}
		used := c.h.OnData(c, buf)
		if used <= 0 {
			if n >= c.e.cfg.ReadBufferSize && !c.onClosed.Load() {
				_ = c.closeWith(fmt.Errorf("gnet: read %s: %w", c.raddr, engine.ErrReadBufferFull))
			}
			return
		}
		if c.onClosed.Load() {
			return
		}
		_, _ = c.gc.Discard(min(used, n))
	}
}

func (c *conn) Execute(fn func()) error {
	if c.onClosed.Load() {
		return engine.ErrClosed
	}
	c.mu.Lock()
	if !c.opened {
		if c.closed {
			c.mu.Unlock()
			return engine.ErrClosed
		}
		if len(c.preOpen) >= c.e.cfg.ExecuteQueueLimit {
			c.mu.Unlock()
			return engine.ErrExecuteQueueFull
		}
		c.preOpen = append(c.preOpen, fn)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.loop.execute(func() {
		if !c.onClosed.Load() {
			fn()
		}
	})
}

// AfterFunc puts a timer on the connection's loop. Before the connection
// is open (a dial in progress) the timer waits in the pre-open queue.
func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	t := &timer{fn: func() {
		if !c.isClosing() {
			fn()
		}
	}, at: time.Now().Add(d), idx: -1}
	if c.onClosed.Load() {
		t.state.Store(timerStopped)
		return t
	}
	c.mu.Lock()
	if !c.opened {
		c.preOpen = append(c.preOpen, func() { t.l = c.loop; c.loop.addTimer(t) })
		c.mu.Unlock()
		return t
	}
	c.mu.Unlock()
	t.l = c.loop
	c.loop.addTimer(t)
	return t
}

// eventHandler adapts one gnet engine or client to the contract.
type eventHandler struct {
	gnet.BuiltinEventEngine
	e    *Engine
	ln   *listener // nil for the dialing client
	boot chan gnet.Engine
}

func (h *eventHandler) OnBoot(ge gnet.Engine) gnet.Action {
	if h.boot != nil {
		h.boot <- ge
	}
	return gnet.None
}

func (h *eventHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c, ok := gc.Context().(*conn)
	if !ok {
		if h.ln == nil {
			return nil, gnet.Close
		}
		c = newConn(h.e, nil)
		if !h.e.register(c) {
			return nil, gnet.Close
		}
		gc.SetContext(c)
		c.gc = gc
		c.loop = h.e.loopOf(gc.EventLoop())
		c.laddr = sockName(gc.Fd(), gc.LocalAddr())
		c.raddr = copyAddr(gc.RemoteAddr())
		c.loop.callback(func() { c.h = h.ln.newHandler(c) })
	}
	c.open(gc)
	return nil, gnet.None
}

func (h *eventHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	if c.paused {
		// A read slipped in after gnet re-armed EPOLLIN; keep it buffered.
		c.applyInterest()
		return gnet.None
	}
	c.loop.callback(c.deliver)
	return gnet.None
}

func (h *eventHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.mu.Lock()
	reason, local := c.closeErr, c.local
	c.mu.Unlock()
	c.e.unregister(c)
	if reason == nil && !local && h.e.isClosed() {
		reason = engine.ErrEngineClosed
	}
	if reason == nil && !local && err != nil {
		if errors.Is(err, io.EOF) {
			c.loop.callback(func() { c.h.OnReadEOF(c) })
			c.mu.Lock()
			local = c.local // the handler may have closed in OnReadEOF
			c.mu.Unlock()
			if !local {
				reason = fmt.Errorf("gnet: %s: %w", c.raddr, ErrNoHalfClose)
			}
		} else {
			reason = fmt.Errorf("gnet: %s: %w", c.raddr, err)
		}
	}
	c.mu.Lock()
	c.closed = true
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
	if c.wfile != nil {
		_ = c.wfile.Close() // ends waitWritable's goroutine
	}
	c.loop.callback(func() { c.deliverClose(reason) })
	return gnet.None
}
