package dpdkengine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/netmodels/netmodels/core/engine"
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

	state  atomic.Int32
	queued atomic.Bool // on w.ready
	paused atomic.Bool

	// Loop-only.
	in           []byte // unconsumed bytes, cap ReadBufferSize
	eof          bool   // peer's FIN read from the endpoint
	eofReported  bool
	shutWrDone   bool
	local        atomic.Pointer[net.TCPAddr]
	remote       atomic.Pointer[net.TCPAddr]
	dialAddr     tcpip.FullAddress
	dialStarted  bool // Connect called: until then a new endpoint reads as hung up
	dialDeadline *timer

	spl       *splice              // loop-only: the relay this conn is the source of
	splicedBy atomic.Pointer[conn] // the source relaying into this conn

	mu          sync.Mutex // guards the out-queue and the close requests
	out         [][]byte
	held        [][]byte // writes made while a splice feeds this conn (counted in outBytes)
	outBytes    int
	aboveHigh   bool
	drainedOwed bool
	closeWrite  bool  // CloseWrite called
	closing     bool  // Close called or engine shutting down
	closeErr    error // the error OnClose reports after a close request

}

var (
	_ engine.Conn     = (*conn)(nil)
	_ engine.Timer    = (*timer)(nil)
	_ engine.Listener = (*listener)(nil)
)

func newConn(e *Engine, w *worker, h engine.Handler, ep tcpip.Endpoint, wq *waiter.Queue) *conn {
	c := &conn{e: e, w: w, h: h, ep: ep, wq: wq}
	c.in = make([]byte, 0, e.cfg.ReadBufferSize)
	c.we = waiter.NewFunctionEntry(waiter.ReadableEvents|waiter.WritableEvents|waiter.EventHUp|waiter.EventErr, func(waiter.EventMask) {
		w.markReady(c)
	})
	wq.EventRegister(&c.we)
	ep.SocketOptions().SetDelayOption(e.cfg.Nagle)
	return c
}

func (c *conn) isClosed() bool { return c.state.Load() == stateClosed }

func (c *conn) LocalAddr() net.Addr {
	if a := c.local.Load(); a != nil {
		return a
	}
	return nil
}

func (c *conn) RemoteAddr() net.Addr {
	if a := c.remote.Load(); a != nil {
		return a
	}
	return nil
}

func (c *conn) Write(b []byte) error {
	return c.enqueue([][]byte{bytes.Clone(b)}, len(b))
}

func (c *conn) Writev(bufs [][]byte) error {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return c.enqueue(bufs, n)
}

func (c *conn) enqueue(bufs [][]byte, n int) error {
	c.mu.Lock()
	if c.closing || c.closeWrite || c.isClosed() {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	if c.outBytes+n > c.e.cfg.OutQueueLimit {
		c.drainedOwed = true
		c.mu.Unlock()
		c.w.markReady(c) // OnDrained may already be owed
		return engine.ErrOutQueueFull
	}
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if c.splicedBy.Load() != nil {
			c.held = append(c.held, b) // sent after the splice (spec: Splicer)
		} else {
			c.out = append(c.out, b)
		}
	}
	c.outBytes += n
	if c.outBytes > c.e.cfg.OutQueueHighWater {
		c.aboveHigh = true
	}
	c.mu.Unlock()
	c.w.markReady(c)
	return nil
}

func (c *conn) OutQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outBytes
}

func (c *conn) CloseWrite() error {
	c.mu.Lock()
	if c.closing || c.isClosed() {
		c.mu.Unlock()
		return engine.ErrClosed
	}
	c.closeWrite = true
	c.mu.Unlock()
	c.w.markReady(c)
	return nil
}

func (c *conn) Close() error { c.closeWith(nil); return nil }

// closeWith asks the loop to close c with err; the first request wins. It
// is posted behind Execute functions already accepted, so they run first.
func (c *conn) closeWith(err error) {
	c.mu.Lock()
	if c.closing || c.isClosed() {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.closeErr = err
	c.out, c.outBytes = nil, 0
	c.mu.Unlock()
	c.w.post(c, func() { c.finish(err) })
}

func (c *conn) PauseRead() { c.paused.Store(true) }

func (c *conn) ResumeRead() {
	if c.paused.Swap(false) {
		c.w.markReady(c)
	}
}

func (c *conn) Execute(fn func()) error {
	if c.isClosed() {
		return engine.ErrClosed
	}
	return c.w.execute(c, fn)
}

func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	t := &timer{c: c, when: time.Now().Add(d), fn: fn}
	c.w.addTimer(t)
	return t
}

// afterCallback runs after an Execute function or timer: the function may
// have written, resumed or closed; process picks that up.
func (c *conn) afterCallback() {
	if !c.isClosed() {
		c.process()
	}
}

// startDial runs on the loop: Connect is non-blocking in gVisor, the
// result comes as a writable or error event.
func (c *conn) startDial(timeout time.Duration) {
	c.dialStarted = true
	err := c.ep.Connect(c.dialAddr)
	switch err.(type) {
	case nil, *tcpip.ErrConnectStarted:
	default:
		c.finish(c.dialError(err))
		return
	}
	c.dialDeadline = &timer{c: c, when: time.Now().Add(timeout), fn: func() {
		if c.state.Load() == stateConnecting {
			c.finish(&net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(c.dialAddr), Err: errDialTimeout})
		}
	}}
	c.w.addTimer(c.dialDeadline)
	c.process()
}

var errDialTimeout = errors.New("i/o timeout")

func (c *conn) dialError(err tcpip.Error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(c.dialAddr), Err: tcpErr(err)}
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
	if c.isClosed() || c.h == nil {
		return // an accepted conn whose open task has not run yet
	}
	if c.state.Load() == stateConnecting {
		if c.closingNow() || !c.dialStarted {
			return
		}
		if c.ep.Readiness(waiter.WritableEvents|waiter.EventHUp|waiter.EventErr) == 0 {
			return
		}
		if err := c.ep.LastError(); err != nil {
			c.finish(c.dialError(err))
			return
		}
		if st := tcp.EndpointState(c.ep.State()); st == tcp.StateError || st == tcp.StateClose {
			c.finish(c.dialError(&tcpip.ErrConnectionAborted{}))
			return
		}
		if c.dialDeadline != nil {
			c.dialDeadline.Stop()
		}
		c.open()
		if c.isClosed() {
			return
		}
	}
	for i := 0; i < 64; i++ { // bounded so one busy conn cannot starve the loop
		if c.closingNow() {
			return
		}
		wrote := c.flush()
		if c.isClosed() {
			return
		}
		read := c.read()
		if c.isClosed() {
			return
		}
		delivered := c.deliver()
		if c.isClosed() {
			return
		}
		c.maybeDrained()
		if c.isClosed() {
			return
		}
		if !wrote && !read && !delivered {
			return
		}
	}
	c.w.markReady(c) // more to do: come back next turn
}

func (c *conn) closingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// flush hands queued bytes to gVisor until it would block.
func (c *conn) flush() bool {
	progress := false
	for {
		c.mu.Lock()
		if len(c.out) == 0 {
			shut := c.closeWrite && !c.shutWrDone && len(c.held) == 0 && c.splicedBy.Load() == nil
			c.mu.Unlock()
			if progress {
				c.wakeSpliceSource()
			}
			if shut {
				c.shutWrDone = true
				if err := c.ep.Shutdown(tcpip.ShutdownWrite); err != nil {
					c.finish(c.opError("shutdown", err))
				}
				return true
			}
			return progress
		}
		b := c.out[0]
		c.mu.Unlock()
		var r bytes.Reader
		r.Reset(b)
		n, err := c.ep.Write(&r, tcpip.WriteOptions{})
		if n > 0 {
			progress = true
			c.mu.Lock()
			if len(c.out) > 0 { // Close may have dropped the queue meanwhile
				if int(n) == len(c.out[0]) {
					c.out[0] = nil
					c.out = c.out[1:]
				} else {
					c.out[0] = c.out[0][n:]
				}
				c.outBytes -= int(n)
			}
			c.mu.Unlock()
		}
		if err != nil {
			if _, ok := err.(*tcpip.ErrWouldBlock); ok {
				if progress {
					c.wakeSpliceSource()
				}
				return progress
			}
			c.finish(c.opError("write", err))
			return true
		}
		if int(n) < len(b) {
			if progress {
				c.wakeSpliceSource()
			}
			return progress
		}
	}
}

// wakeSpliceSource lets a relay blocked on this conn's out-queue go on.
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
	if c.spl != nil {
		if !c.spliceRoom() {
			return false // the destination wakes us when it drains
		}
	} else if c.paused.Load() {
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
	for len(c.in) < cap(c.in) {
		w := tcpip.SliceWriter(c.in[len(c.in):cap(c.in)])
		res, err := c.ep.Read(&w, tcpip.ReadOptions{})
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
		if c.closingNow() {
			return progress
		}
		n := c.h.OnData(c, c.in)
		if c.isClosed() {
			return true
		}
		if err := engine.CheckConsumed(n, len(c.in)); err != nil {
			c.finish(err)
			return true
		}
		if n == 0 {
			if len(c.in) >= cap(c.in) {
				c.finish(engine.ErrReadBufferFull)
				return true
			}
			needMore = true
			break
		}
		progress = true
		rest := copy(c.in, c.in[n:])
		c.in = c.in[:rest]
		if c.spl != nil {
			return true // Splice called from OnData: the relay takes over
		}
	}
	// EOF follows the last OnData even when the handler left bytes it
	// could not consume: no more will come (a truncated frame then FIN).
	if c.eof && !c.eofReported && c.spl == nil && (len(c.in) == 0 || needMore) && !c.paused.Load() && !c.closingNow() {
		c.eofReported = true
		c.h.OnReadEOF(c)
		progress = true
	}
	return progress
}

func (c *conn) maybeDrained() {
	c.mu.Lock()
	fire := !c.closing && (c.aboveHigh || c.drainedOwed) && c.outBytes <= c.e.cfg.OutQueueLowWater
	if fire {
		c.aboveHigh, c.drainedOwed = false, false
	}
	c.mu.Unlock()
	if fire {
		c.h.OnDrained(c)
	}
}

// finish ends the connection: gVisor endpoint closed, OnClose last.
func (c *conn) finish(err error) {
	if c.isClosed() {
		return
	}
	c.state.Store(stateClosed)
	c.mu.Lock()
	if c.closing {
		// A Close or Shutdown asked first: its reason wins over an I/O
		// error met while the request waited its turn on the loop.
		err = c.closeErr
	}
	c.closing = true
	c.out, c.outBytes = nil, 0
	c.mu.Unlock()
	c.wq.EventUnregister(&c.we)
	c.ep.Close()
	if c.spl != nil { // OnClose is the only report: done does not run
		c.spl.dst.releaseSplice(c)
		c.spl = nil
	}
	c.wakeSpliceSource() // a relay into c sees it closed and ends
	if c.dialDeadline != nil {
		c.dialDeadline.Stop()
	}
	if c.h != nil { // nil: accepted, closed by Shutdown before newHandler ran
		c.h.OnClose(c, err)
	}
	c.e.forget(c)
}

func (c *conn) opError(op string, err tcpip.Error) error {
	var addr net.Addr
	if a := c.remote.Load(); a != nil {
		addr = a
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: addr, Err: tcpErr(err)}
}

// tcpErr maps gVisor's errors to the syscall errors the kernel engines
// report, so callers can match them with errors.Is.
func tcpErr(err tcpip.Error) error {
	switch err.(type) {
	case *tcpip.ErrConnectionRefused:
		return errConnRefused
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		return errConnReset
	case *tcpip.ErrTimeout:
		return errDialTimeout
	}
	return fmt.Errorf("gvisor: %s", err)
}
