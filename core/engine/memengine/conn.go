package memengine

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stateDialing  connState = iota // Dial called; the loop has yet to look for a listener
	stateSynSent                   // dialled a blackholed address; waits for the dial timeout
	stateAccepted                  // accepted; the loop has yet to call newHandler
	stateOpen                      // established (OnOpen delivered once opened is set)
	stateClosed                    // OnClose delivered; the conn does nothing more
)

// conn is one end of an in-memory TCP connection. All fields are guarded by
// the engine's mutex; handler callbacks run on the loop without it.
//
// Bytes flow: Write -> out (the out-queue, at most OutQueueLimit) -> flush
// -> peer.inflight (the socket buffer, at most PipeBufferSize) -> read ->
// peer.in (the read buffer, at most ReadBufferSize) -> OnData.
type conn struct {
	e          *Engine
	id         uint64
	h          engine.Handler
	newHandler func(engine.Conn) engine.Handler
	lis        *listener // the listener that accepted it (nil: dialled)
	held       bool      // in lis's backlog, paused

	localAddr, remoteAddr *net.TCPAddr
	remoteAP              netip.AddrPort
	dialTimeout           time.Duration
	peer                  *conn

	state     connState
	opened    bool  // OnOpen delivered
	scheduled bool  // on the run queue
	closing   bool  // Close, a reset or Shutdown happened; OnClose is due
	closeErr  error // passed to OnClose
	resetErr  error // a reset that takes effect once inflight is read

	// Write side: loopkit's out-queue (limit, water marks, the OnDrained
	// debt, the FIN after the queue); the pipe is our socket.
	out      loopkit.OutQueue
	drainDue bool // the out-queue reported OnDrained due; flush delivers it
	sent     int64
	fault    FaultPlan

	// Read side.
	inflight     []byte // sent by the peer, not yet read (the socket buffer)
	finRcvd      bool   // the peer's FIN follows inflight
	in           []byte // read, not yet consumed by the handler
	fresh        bool   // in holds bytes the handler has not been shown
	paused       bool
	eofDelivered bool

	splice    *splice // relaying our input to another conn
	spliceSrc *conn   // the conn splicing into us, woken when we drain

	execq []func()
}

var _ engine.Conn = (*conn)(nil)

func (c *conn) LocalAddr() net.Addr  { return c.localAddr }
func (c *conn) RemoteAddr() net.Addr { return c.remoteAddr }

// Write queues a copy of b; see engine.Conn.
func (c *conn) Write(b []byte) error { return c.Writev([][]byte{b}) }

// Writev queues bufs, all or nothing; see engine.Conn. The bytes are copied
// into the out-queue, so the caller's slices are never touched.
//
// At the limit: nothing is queued, ErrOutQueueFull is returned and OnDrained
// is owed, so a refused writer always gets OnDrained once the queue is at or
// below the low-water mark, even if it never rose above the high-water mark
// (a large write refused on a small queue).
func (c *conn) Writev(bufs [][]byte) error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.Closed() {
		return engine.ErrClosed
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	drainNow, err := c.out.Admit(n)
	if drainNow {
		c.drainDue = true // refused with the queue already at low water
	}
	if errors.Is(err, engine.ErrOutQueueFull) {
		e.schedule(c)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	for _, b := range bufs {
		c.out.AppendCopy(b)
	}
	e.schedule(c)
	return nil
}

// OutQueued is the number of bytes not yet moved into the pipe.
func (c *conn) OutQueued() int {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.out.Len()
}

// CloseWrite sends FIN after the queued bytes. Idempotent; ErrClosed after
// Close.
func (c *conn) CloseWrite() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.Closed() {
		return engine.ErrClosed
	}
	if !c.out.WriteClosed() {
		_ = c.out.CloseWrite() // nil: the queue is discarded only on close
		e.schedule(c)
	}
	return nil
}

// Close discards the out-queue and what was received but not read, and
// ends the connection; OnClose(c, nil) follows on the loop. The peer sees
// it as TCP shows a close: it reads the bytes already in flight to it, then
// EOF (OnReadEOF); its writes after that fail with a reset (OnClose with a
// *net.OpError{Op: "write"} wrapping ECONNRESET). Idempotent.
func (c *conn) Close() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	e.startClose(c, nil, true)
	return nil
}

// Abort implements engine.Aborter: c closes at once and its peer sees a
// reset (OnClose with ECONNRESET after the bytes already in flight to it),
// as a TCP RST from SO_LINGER 0 would give.
func (c *conn) Abort() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.closing || c.state == stateClosed {
		return nil
	}
	p := c.peer
	e.startClose(c, nil, false)
	if p != nil && !p.closing && p.state != stateClosed {
		p.resetErr = resetError("read", p)
		e.schedule(p)
	}
	return nil
}

func (c *conn) PauseRead() {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	c.paused = true
}

func (c *conn) ResumeRead() {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !c.paused {
		return
	}
	c.paused = false
	if len(c.in) > 0 {
		c.fresh = true
	}
	e.schedule(c)
}

// Execute queues fn for the loop. Once the connection is closing it fails
// with ErrClosed; functions accepted before the close still run, before
// OnClose (spec/engine.md section 5).
func (c *conn) Execute(fn func()) error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.closing || c.state == stateClosed {
		return engine.ErrClosed
	}
	if e.execPending >= e.cfg.ExecuteQueueLimit {
		return engine.ErrExecuteQueueFull
	}
	c.execq = append(c.execq, fn)
	e.execPending++
	e.schedule(c)
	return nil
}

// AfterFunc runs fn on the loop once the engine's clock has moved d past
// now, unless stopped or the connection closed first.
func (c *conn) AfterFunc(d time.Duration, fn func()) engine.Timer {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &timer{e: e}
	if c.Closed() || e.stopped {
		return t // never scheduled: Stop reports false
	}
	e.addTimer(&t.Timer, c, d, false, fn)
	return t
}

// String names the connection by its addresses, for logs.
func (c *conn) String() string {
	return c.localAddr.String() + "->" + c.remoteAddr.String()
}
