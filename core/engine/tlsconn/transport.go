package tlsconn

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// errWouldBlock is what the transport's Read returns when it has no bytes
// in record mode. It is a temporary net.Error on purpose: in
// crypto/tls/conn.go, readRecordOrCCS does
//
//	if err := c.readFromUntil(c.conn, recordHeaderLen); err != nil {
//		...
//		if e, ok := err.(net.Error); !ok || !e.Temporary() {
//			c.in.setErrorLocked(err)
//		}
//		return err
//	}
//
// (and the same after reading the record body): only a non-temporary error
// is made sticky in c.in.err, so Read returns our error and the next Read
// starts again where it stopped. The bytes already pulled into c.rawInput
// stay there (readFromUntil appends), so a record split across OnData calls
// is reassembled by crypto/tls itself. Checked against Go 1.26's conn.go.
// The handshake never sees this error: there the transport blocks.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsconn: no buffered ciphertext (would block)" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// errTransportClosed ends a handshake whose connection closed.
var errTransportClosed = errors.New("tlsconn: connection closed during the handshake")

// maxTransportRead caps one Read, so crypto/tls's record buffer holds at
// most about two records: readFromUntil keeps reading until it has what it
// needs, and a Read larger than a record would make it hold more.
const maxTransportRead = 16384 + 2048 + 5

// HandshakeBufferSize bounds the ciphertext waiting for the handshake
// goroutine (two maximal TLS 1.2 records); beyond it the raw connection is
// paused until the goroutine has read it.
const HandshakeBufferSize = 2 * maxTransportRead

// transport is the net.Conn crypto/tls reads and writes. In handshake mode
// (blocking) the goroutine reads bytes the loop appended to buf and writes
// straight to the raw connection; in record mode everything runs on the
// loop: Read takes from buf (handshake leftovers) then from in (the
// engine's buffer lent for one OnData), Write goes to the Conn's out path.
type transport struct {
	c  *Conn
	mu sync.Mutex
	wk sync.Cond

	blocking bool
	parked   bool // the goroutine waits in Read (counted by the Limiter)
	fullWait bool // buf was full: the raw connection is paused until drained
	buf      []byte
	in       []byte // record mode only, valid during one OnData
	eof      bool   // the raw connection reported read EOF
	closed   bool
}

func (t *transport) init(c *Conn) {
	t.c = c
	t.wk.L = &t.mu
	t.blocking = true
}

// feed appends handshake bytes from the loop; it returns how many fit.
func (t *transport) feed(b []byte) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(len(b), HandshakeBufferSize-len(t.buf))
	t.buf = append(t.buf, b[:n]...)
	if n < len(b) {
		t.fullWait = true
	}
	t.wakeLocked()
	return n
}

// wakeLocked unparks the goroutine. The waker, not the woken goroutine,
// clears the Limiter's parked count, so a test that waits for every
// handshake goroutine to be parked (Limiter.WaitIdle) cannot see a woken
// goroutine as still parked.
func (t *transport) wakeLocked() {
	if t.parked {
		t.parked = false
		t.c.lim.unpark()
	}
	t.wk.Broadcast()
}

// stash keeps record-mode bytes that arrived while the loop was busy
// delivering (read before the engine's buffer); it returns how many fit.
func (t *transport) stash(b []byte) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(len(b), HandshakeBufferSize-len(t.buf))
	t.buf = append(t.buf, b[:n]...)
	return n
}

func (t *transport) setEOF() {
	t.mu.Lock()
	t.eof = true
	t.wakeLocked()
	t.mu.Unlock()
}

func (t *transport) close() {
	t.mu.Lock()
	t.closed = true
	t.wakeLocked()
	t.mu.Unlock()
}

func (t *transport) Read(p []byte) (int, error) {
	t.mu.Lock()
	n, err, resume := t.readLocked(p)
	t.mu.Unlock()
	if resume {
		// Outside the lock: an engine may hold its own lock while it runs
		// a callback that feeds us.
		c := t.c
		_ = c.raw.Execute(c.resumeAfterFull)
	}
	return n, err
}

func (t *transport) readLocked(p []byte) (n int, err error, resume bool) {
	if t.blocking {
		for len(t.buf) == 0 && !t.eof && !t.closed {
			t.parked = true
			t.c.lim.park()
			t.wk.Wait()
		}
	}
	p = p[:min(len(p), maxTransportRead)]
	if len(t.buf) > 0 {
		n = copy(p, t.buf)
		t.buf = t.buf[n:]
		if len(t.buf) == 0 {
			t.buf = nil
			if t.fullWait && t.blocking {
				t.fullWait = false
				resume = true
			}
		}
		return n, nil, resume
	}
	if t.closed {
		return 0, errTransportClosed, false
	}
	if len(t.in) > 0 {
		n = copy(p, t.in)
		t.in = t.in[n:]
		return n, nil, false
	}
	if t.eof {
		return 0, io.EOF, false
	}
	return 0, errWouldBlock, false
}

func (t *transport) Write(p []byte) (int, error) {
	t.mu.Lock()
	blocking := t.blocking
	t.mu.Unlock()
	if blocking {
		// The handshake goroutine: the contract allows Write from any
		// goroutine. A refusal fails the handshake (its flights are a few
		// KiB, far below any out-queue limit).
		if err := t.c.raw.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return t.c.writeCiphertext(p)
}

func (t *transport) Close() error                     { return nil }
func (t *transport) LocalAddr() net.Addr              { return t.c.raw.LocalAddr() }
func (t *transport) RemoteAddr() net.Addr             { return t.c.raw.RemoteAddr() }
func (t *transport) SetDeadline(time.Time) error      { return nil }
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }
