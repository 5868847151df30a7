package netpollengine

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// conn is one TCP connection. It starts as the *net.TCPConn it was
// accepted or dialed as; attach gives the socket to netpoll (an
// attachment: netpoll's connection, its poller and LinkBuffer) under
// another descriptor, and then the engine writes netpoll's descriptor
// (fdSocket, see writer.go) and closes the TCPConn: one descriptor per
// socket. The loop, handler, close sequence and write side are a
// serial.BaseConn.
//
// Fields under Mu are shared between callers (Write, Close, PauseRead...),
// netpoll's processing task and the flusher; fields marked "loop" are
// touched only while holding the loop's token. Cond wakes a processing
// task parked by PauseRead.
type conn struct {
	serial.BaseConn
	eng *Engine

	eofClaimed   atomic.Bool // OnReadEOF is due (or done); set once
	pausedFlag   atomic.Bool // mirrors paused for the poller (interest.go)
	carryPending atomic.Bool // carry holds bytes (for ResumeRead)

	// loop: bytes a false hang-up took from netpoll, delivered before
	// anything newer (reader.go, keep).
	carry []byte

	// under Mu
	att    *attachment // the socket's netpoll connection, once attached
	fs     *fdSocket   // the write side once it left the TCPConn (swapSocket)
	paused bool
	// attachDeferred: paused before netpoll got the socket; ResumeRead
	// attaches it (reader.go).
	attachDeferred bool
	eofHeld        bool // read EOF seen while paused; ResumeRead reports it
	// spare: the eventfd made at accept for the first attachment
	// (quietFD), or -1.
	spare int
}

var _ engine.Conn = (*conn)(nil)

func newConn(e *Engine, l *serial.Loop) *conn {
	c := &conn{eng: e, spare: -1}
	c.BaseConn.Init(serial.ConnConfig{
		Self:        c,
		Registry:    &e.reg,
		Loop:        l,
		Config:      e.cfg,
		CloseLocked: c.closeLocked,
	})
	return c
}

// PauseRead stops deliveries at once. Called from OnOpen, netpoll does not
// get the socket until ResumeRead. Later, the poller stops reading at the
// processing task's next step (see reader.go): what the poller read while
// the current callback ran (at most readAheadLimit plus one read) stays
// buffered, then the fd leaves epoll and TCP pushes back on the peer.
func (c *conn) PauseRead() {
	c.Mu.Lock()
	c.paused = true
	c.pausedFlag.Store(true)
	c.Mu.Unlock()
}

func (c *conn) ResumeRead() {
	c.Mu.Lock()
	if c.paused {
		c.paused = false
		c.pausedFlag.Store(false)
		c.Cond.Broadcast()
	}
	deferred := c.attachDeferred && !c.Closing
	c.attachDeferred = false
	eof := c.eofHeld && !c.Closing
	c.eofHeld = false
	a := c.att
	c.Mu.Unlock()
	if c.carryPending.Load() {
		c.Loop.Post(c.deliverCarry) // before a held EOF
	}
	if eof {
		c.Loop.Post(c.runReadEOF)
	}
	switch {
	case deferred:
		// eventfd, NewFDConnection, dup3 and epoll_ctl: quick, never blocking.
		c.attach()
	case a != nil:
		// The poller may have taken the fd out after a read while no
		// processing task was there to put it back (one parked by the
		// pause does it too; resume is idempotent).
		a.ri.resume()
	}
}

// takeSpare hands over the eventfd made at accept, or -1.
func (c *conn) takeSpare() int {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	fd := c.spare
	c.spare = -1
	return fd
}

// dropSpare closes the eventfd made at accept if nothing used it.
func (c *conn) dropSpare() {
	if fd := c.takeSpare(); fd >= 0 {
		_ = unix.Close(fd)
	}
}

// readHeld reports whether deliveries must stop now.
func (c *conn) readHeld() bool {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.paused || c.Closing
}

// closeLocked is this engine's part of CloseWith: closing the TCPConn (or
// the write side's fallback descriptor) wakes the flusher, and closing
// netpoll's side wakes a processing task waiting for bytes (CloseWith also
// wakes a task parked by PauseRead).
//
// Those go first, so that netpoll's fd is the socket's last descriptor
// when netpoll closes it and the kernel drops any epoll registration left
// on it. One can be: release skips its own deregistration when netpoll's
// detach was counted, but netpoll counts before its epoll_ctl, and a
// poller that counted a hang-up's detach may not have made the call yet
// when this close runs (interest.go). Closing one of two descriptors
// sends nothing: the FIN (or the RST of Abort's SO_LINGER 0) goes out when
// netpoll closes its fd.
func (c *conn) closeLocked() (after func()) {
	tc, a, fs := c.TCP, c.att, c.fs
	return func() {
		if tc != nil {
			_ = tc.Close()
		}
		if fs != nil {
			fs.closeFallback()
		}
		if a != nil {
			nc := a.nc
			// netpoll closes its fd now, or when the processing task returns.
			_ = nc.Close()
		}
	}
}

// swapSocket moves the write side from the TCPConn to netpoll's
// descriptor of the socket, just attached as a, and closes the TCPConn:
// from then on the socket has one descriptor. It leaves the TCPConn in
// place (two descriptors, as before) if the write side is busy (a flusher
// writing what OnOpen queued), or the connection is closing.
func (c *conn) swapSocket(a *attachment) {
	c.Mu.Lock()
	if c.TCP == nil || c.Closing {
		c.Mu.Unlock()
		return
	}
	fs := newFDSocket(a, c.TCP.LocalAddr(), c.TCP.RemoteAddr())
	tc, ok := c.SwapSocketLocked(fs)
	if ok {
		c.fs = fs
	}
	c.Mu.Unlock()
	if ok {
		_ = tc.Close()
	}
}

// control runs fn on a descriptor of the socket; false if none is left.
func (c *conn) control(fn func(fd int)) bool {
	c.Mu.Lock()
	raw, fs := c.Raw, c.fs
	c.Mu.Unlock()
	switch {
	case raw != nil:
		return raw.Control(func(fd uintptr) { fn(int(fd)) }) == nil
	case fs != nil:
		return fs.Control(fn)
	}
	return false
}
