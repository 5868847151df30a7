package dpdkengine

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// Connection states; only the loop changes them.
const (
	stateConnecting int32 = iota
	stateOpen
	stateClosed // OnClose has run
)

// conn is one TCP connection on a gVisor tcpip.Endpoint. gVisor's waiter
// callbacks only mark it ready on its worker; every read, write and
// callback happens on that worker.
type conn struct {
	e  *Engine
	w  *worker
	h  engine.Handler
	ep tcpip.Endpoint
	wq *waiter.Queue
	we waiter.Entry

	state         atomic.Int32
	queued        atomic.Bool // on w.ready
	paused        atomic.Bool
	local, remote atomic.Pointer[net.TCPAddr]
	splicedBy     atomic.Pointer[conn] // the source relaying into this conn

	// Loop-only.
	inBuf        []byte            // the read buffer, cap ReadBufferSize
	in           []byte            // unconsumed bytes: a window of inBuf, consumed by reslicing (no copy per OnData)
	rw           tcpip.SliceWriter // read's destination, a field so that passing it as an io.Writer allocates nothing
	eof          bool              // peer's FIN read from the endpoint
	eofReported  bool
	dialDeadline *loopkit.Timer
	spl          *splice // the relay this conn is the source of

	mu       sync.Mutex // guards what follows; Discarded means closing
	out      loopkit.OutQueue
	drainDue bool  // OnDrained came due: process delivers it
	held     bool  // a splice writes ep: the queue and FIN wait for its end
	closeErr error // the error OnClose reports after a close request
}

var (
	_ engine.Conn     = (*conn)(nil)
	_ engine.Splicer  = (*conn)(nil)
	_ engine.Listener = (*listener)(nil)
)

func newConn(e *Engine, w *worker, h engine.Handler, ep tcpip.Endpoint, wq *waiter.Queue) *conn {
	c := &conn{e: e, w: w, h: h, ep: ep, wq: wq}
	c.inBuf = make([]byte, 0, e.cfg.ReadBufferSize)
	c.in = c.inBuf
	c.out.Init(e.cfg)
	c.we = waiter.NewFunctionEntry(waiter.ReadableEvents|waiter.WritableEvents|waiter.EventHUp|waiter.EventErr, func(waiter.EventMask) {
		w.markReady(c)
	})
	wq.EventRegister(&c.we)
	ep.SocketOptions().SetDelayOption(e.cfg.Nagle)
	if debugNewConn != nil {
		debugNewConn(c)
	}
	return c
}

// debugNewConn, set by diagnostics tests before any engine starts, sees
// every new conn.
var debugNewConn func(*conn)

// Closed reports whether OnClose has run (loopkit.Owner: c's timers stop).
func (c *conn) Closed() bool { return c.state.Load() == stateClosed }

// closing reports whether a close was asked for or has happened.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Discarded()
}

func (c *conn) LocalAddr() net.Addr  { return addrOf(&c.local) }
func (c *conn) RemoteAddr() net.Addr { return addrOf(&c.remote) }

// addrOf is nil (not a nil *TCPAddr) until open stored the address.
func addrOf(p *atomic.Pointer[net.TCPAddr]) net.Addr {
	if a := p.Load(); a != nil {
		return a
	}
	return nil
}

func (c *conn) Write(b []byte) error { return c.write(b, nil) }

func (c *conn) Writev(bufs [][]byte) error { return c.write(nil, bufs) }

func (c *conn) write(b []byte, bufs [][]byte) error {
	c.mu.Lock()
	drainNow, err := c.out.Queue(b, bufs)
	c.drainDue = c.drainDue || drainNow
	c.mu.Unlock()
	if err == nil || drainNow {
		c.w.markReady(c)
	}
	return err
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
	if err == nil {
		c.w.markReady(c)
	}
	return err
}

func (c *conn) Close() error { c.CloseWith(nil); return nil }

// CloseWith asks the loop to close c with err (loopkit.Conn); the first
// request wins. It is queued behind Execute functions already accepted,
// so they run first.
func (c *conn) CloseWith(err error) {
	c.mu.Lock()
	if !c.out.Discard() {
		c.mu.Unlock()
		return
	}
	c.closeErr = err
	c.mu.Unlock()
	_ = c.w.push(c.w.q.Post(c.callback(func() { c.finish(err) })))
}

func (c *conn) PauseRead() { c.paused.Store(true) }

func (c *conn) ResumeRead() {
	if c.paused.Swap(false) {
		c.w.markReady(c)
	}
}

func (c *conn) Execute(fn func()) error {
	return c.w.push(c.w.q.ExecuteFor(c, c.callback(fn)))
}

func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	return c.w.timers.Add(c, loopkit.Deadline(d), c.callback(fn))
}

// callback wraps fn as one of c's callbacks on the loop: skipped once c
// is closed, and followed by process for what fn did (wrote, resumed).
func (c *conn) callback(fn func()) func() {
	return func() {
		if !c.Closed() {
			fn()
			c.process()
		}
	}
}

// open runs OnOpen once the endpoint is connected.
func (c *conn) open() {
	c.state.Store(stateOpen)
	if a, err := c.ep.GetLocalAddress(); err == nil {
		c.local.Store(tcpAddr(a))
	}
	if a, err := c.ep.GetRemoteAddress(); err == nil {
		c.remote.Store(tcpAddr(a))
	}
	c.h.OnOpen(c)
}

// process handles pending events: connect completion, writes, reads and
// deliveries, drain notifications. Loop only.
func (c *conn) process() {
	if c.Closed() || c.h == nil {
		return // an accepted conn whose open task has not run yet
	}
	if c.state.Load() == stateConnecting {
		if c.closing() || c.ep.Readiness(waiter.WritableEvents|waiter.EventHUp|waiter.EventErr) == 0 {
			return
		}
		err := c.ep.LastError()
		if st := tcp.EndpointState(c.ep.State()); err == nil && (st == tcp.StateError || st == tcp.StateClose) {
			err = &tcpip.ErrConnectionAborted{}
		}
		if err != nil {
			c.finish(c.opError("dial", err))
			return
		}
		c.dialDeadline.Stop()
		c.open()
	}
	for i := 0; i < 64; i++ { // bounded so one busy conn cannot starve the loop
		if c.closing() { // also once closed: finish discards the queue
			return
		}
		wrote := c.flush()
		read := !c.Closed() && c.read()
		delivered := !c.Closed() && c.deliver()
		if c.Closed() {
			return // no callback after OnClose
		}
		c.maybeDrained()
		if !wrote && !read && !delivered {
			return
		}
	}
	c.w.markReady(c) // more to do: come back next turn
}

// flush hands queued bytes to gVisor until it would block, then the FIN
// once everything, a splice into c included, is through.
func (c *conn) flush() bool {
	progress := false
	for {
		var one [1][]byte
		iov := one[:0]
		c.mu.Lock()
		if !c.held {
			iov = c.out.Pending(iov, 1)
		}
		fin := len(iov) == 0 && c.splicedBy.Load() == nil && c.out.TakeFIN()
		c.mu.Unlock()
		if len(iov) == 0 {
			c.wakeSpliceSource() // the relay into c waits for an empty queue or room
			if fin {
				if err := c.ep.Shutdown(tcpip.ShutdownWrite); err != nil {
					c.finish(c.opError("shutdown", err))
				}
				return true
			}
			return progress
		}
		c.w.wr.Reset(iov[0])
		n, err := c.ep.Write(&c.w.wr, tcpip.WriteOptions{})
		if n > 0 {
			progress = true
			c.mu.Lock()
			c.drainDue = c.out.Consume(int(n)) || c.drainDue
			c.mu.Unlock()
		}
		if err != nil {
			if _, ok := err.(*tcpip.ErrWouldBlock); ok {
				return progress
			}
			c.finish(c.opError("write", err))
			return true
		}
		if int(n) < len(iov[0]) {
			return progress
		}
	}
}

// wakeSpliceSource lets a relay waiting on this conn go on.
func (c *conn) wakeSpliceSource() {
	if src := c.splicedBy.Load(); src != nil {
		src.w.markReady(src)
	}
}

// read pulls bytes from gVisor into the read buffer, unless paused.
// Stopping here while paused lets gVisor's receive buffer fill and its
// window close: real TCP backpressure.
func (c *conn) read() bool {
	if c.eof {
		return false
	}
	if c.spl == nil && c.paused.Load() { // a splice ignores PauseRead (spec §9)
		// Not reading, but a reset must still end the connection now.
		if tcp.EndpointState(c.ep.State()) == tcp.StateError {
			if err := c.ep.LastError(); err != nil {
				c.finish(c.opError("read", err))
				return true
			}
		}
		return false
	}
	progress := false
	if cap(c.in) < cap(c.inBuf) { // the unconsumed tail to the front, for the most room
		c.in = c.inBuf[:copy(c.inBuf[:len(c.in)], c.in)]
	}
	// Receive-buffer auto-tuning sizes the window from the bytes the
	// application took per round trip; gVisor leaves the reporting to
	// whoever copies out (its sentry does it per read), so we do it per pass.
	defer func(before int) {
		if n := len(c.in) - before; n > 0 {
			c.ep.ModerateRecvBuf(n)
		}
	}(len(c.in))
	for len(c.in) < cap(c.in) {
		c.rw = tcpip.SliceWriter(c.in[len(c.in):cap(c.in)])
		res, err := c.ep.Read(&c.rw, tcpip.ReadOptions{})
		c.rw = nil
		if res.Count > 0 {
			c.in = c.in[:len(c.in)+res.Count]
			progress = true
		}
		if err != nil {
			switch err.(type) {
			case *tcpip.ErrWouldBlock:
				return progress
			case *tcpip.ErrClosedForReceive:
				c.eof = true
				return true
			}
			c.finish(c.opError("read", err))
			return true
		}
		if res.Count == 0 {
			return progress
		}
	}
	return progress
}

// deliver calls OnData (and OnReadEOF) as the contract orders them.
func (c *conn) deliver() bool {
	if c.spl != nil {
		return c.relay()
	}
	progress := false
	needMore := false // the handler left a partial message it cannot use yet
	for len(c.in) > 0 && !c.paused.Load() {
		if c.closing() {
			return progress
		}
		n := c.h.OnData(c, c.in) // a Close in it is queued: closing() above sees it
		if err := engine.CheckConsumed(n, len(c.in)); err != nil {
			c.finish(err)
			return true
		}
		if n == 0 {
			if len(c.in) >= cap(c.inBuf) {
				c.finish(engine.ErrReadBufferFull)
				return true
			}
			needMore = true
			break
		}
		progress = true
		c.in = c.in[n:]
		if c.spl != nil {
			return true // Splice called from OnData: the relay takes over
		}
	}
	// EOF follows the last OnData even when the handler left bytes it
	// could not consume: no more will come (a truncated frame then FIN).
	if c.eof && !c.eofReported && c.spl == nil && (len(c.in) == 0 || needMore) && !c.paused.Load() && !c.closing() {
		c.eofReported = true
		c.h.OnReadEOF(c)
		progress = true
	}
	return progress
}

func (c *conn) maybeDrained() {
	c.mu.Lock()
	due := c.drainDue && !c.out.Discarded() && c.out.DrainStillDue()
	c.drainDue = false
	c.mu.Unlock()
	if due {
		c.h.OnDrained(c)
	}
}

// finish ends the connection: gVisor endpoint closed, OnClose last.
func (c *conn) finish(err error) {
	if c.Closed() {
		return
	}
	c.state.Store(stateClosed)
	c.mu.Lock()
	if !c.out.Discard() {
		// A Close or Shutdown asked first: its reason wins over an I/O
		// error met while the request waited its turn on the loop.
		err = c.closeErr
	}
	c.mu.Unlock()
	c.w.timers.Drop(c) // the dial deadline and AfterFuncs: their memory, not just their runs
	c.wq.EventUnregister(&c.we)
	c.ep.Close()
	if c.spl != nil { // OnClose is the only report: done does not run
		c.spl.dst.releaseSplice()
		c.spl = nil
	}
	c.wakeSpliceSource() // a relay into c sees it closed and ends
	if c.h != nil {      // nil: accepted, closed by Shutdown before newHandler ran
		c.h.OnClose(c, err)
	}
	c.e.reg.RemoveConn(c)
}

func (c *conn) opError(op string, err tcpip.Error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: c.RemoteAddr(), Err: tcpErr(err)}
}

// tcpErr maps gVisor's errors to the syscall errors the kernel engines
// report, so callers can match them with errors.Is.
func tcpErr(err tcpip.Error) error {
	switch err.(type) {
	case *tcpip.ErrConnectionRefused:
		return syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		return syscall.ECONNRESET
	case *tcpip.ErrTimeout:
		return os.ErrDeadlineExceeded // "i/o timeout", as rawepoll's dial
	}
	return fmt.Errorf("gvisor: %s", err)
}
