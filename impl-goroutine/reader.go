package goroutine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/serial"
)

// setSocket attaches an established socket. It reports false (and closes
// the socket) when the connection was closed meanwhile.
func (c *conn) setSocket(tc *net.TCPConn) bool {
	if c.eng.cfg.DelayedAcks {
		_ = tc.SetNoDelay(false) // Go sets TCP_NODELAY by default
	}
	raw, err := tc.SyscallConn()
	c.mu.Lock()
	if c.closing || err != nil {
		c.mu.Unlock()
		_ = tc.Close()
		if err != nil {
			c.closeWith(err)
		}
		return false
	}
	c.tcp, c.raw = tc, raw
	c.laddr, c.raddr = tc.LocalAddr(), tc.RemoteAddr()
	c.ConnectLocked(serial.NewTCPSocket(tc, raw)) // and write what queued while dialing
	c.cond.Broadcast()
	c.mu.Unlock()
	return true
}

// dialAndRun connects, then becomes the connection's reader.
func (c *conn) dialAndRun(ctx context.Context, addr string, timeout time.Duration) {
	defer c.eng.gs.Done()
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	c.cancelDial()
	if err != nil {
		// A *net.OpError with Op "dial". If Close or Shutdown cancelled
		// the dial, closing already holds the real reason.
		c.closeWith(err)
		return
	}
	if !c.setSocket(nc.(*net.TCPConn)) {
		return
	}
	c.run()
}

func (c *conn) readLoop() {
	defer c.eng.gs.Done()
	c.run()
}

// run delivers OnOpen and then reads until EOF, error or close. Callbacks
// run here, on the reader's own stack, while holding the loop's token.
func (c *conn) run() {
	c.loop.Acquire()
	if c.Closed() {
		c.loop.Release()
		return
	}
	if c.h == nil {
		c.h = c.newHandler(c)
		if c.h == nil {
			// The listener's owner refused the connection: close it
			// without callbacks (runOnClose skips a nil handler).
			c.loop.Release()
			c.closeWith(nil)
			return
		}
	}
	c.h.OnOpen(c)
	c.loop.Release()

	// The read buffer starts small and doubles, up to ReadBufferSize,
	// whenever a read fills it: idle connections (connection-scale tests
	// hold tens of thousands) then cost 4 KiB, busy ones read 64 KiB at once.
	maxBuf := c.eng.cfg.ReadBufferSize
	buf := make([]byte, min(initialReadBuffer, maxBuf))
	var start, end int // buf[start:end] is received and not consumed
	pending := false   // the handler has not yet seen all of buf[start:end]
	eof := false
	wantGrow := false
	for {
		sp, ok := c.waitReadable()
		if !ok {
			return
		}
		if sp != nil {
			var fin bool
			start, end, fin = c.runSplice(sp, buf, start, end)
			if fin {
				return
			}
			pending = start < end
			continue
		}
		if pending {
			start, end, pending = c.deliver(buf, start, end)
			continue
		}
		if eof {
			c.readEOF()
			return
		}
		// Keep the unconsumed tail at the front so every read gets the
		// most room; the tail is a partial message, usually small.
		if start == end {
			start, end = 0, 0
		} else if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		if end == len(buf) || (wantGrow && len(buf) < maxBuf) {
			if end == maxBuf {
				c.closeWith(fmt.Errorf("goroutine: read %s: %w", c.raddr, engine.ErrReadBufferFull))
				return
			}
			buf = grow(buf, end, maxBuf)
			wantGrow = false
		}
		n, err := c.tcp.Read(buf[end:])
		// A read that fills the buffer suggests more is waiting: the next
		// read gets a bigger one.
		wantGrow = end+n == len(buf)
		end += n
		pending = n > 0
		if err != nil {
			if errors.Is(err, io.EOF) {
				eof = true
				continue
			}
			if !c.Closed() {
				c.closeWith(err)
			}
			return
		}
	}
}

// initialReadBuffer is the first read buffer of a connection.
const initialReadBuffer = 4 << 10

// grow doubles buf (up to limit), keeping buf[:used].
func grow(buf []byte, used, limit int) []byte {
	nb := make([]byte, min(2*len(buf), limit))
	copy(nb, buf[:used])
	return nb
}

// waitReadable parks the reader while reads are paused: the socket is not
// read, so the kernel's receive buffer fills and the peer is throttled by
// TCP. It returns a splice request to run, or ok=false once closing.
func (c *conn) waitReadable() (sp *spliceReq, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.paused && !c.closing && c.spliceReq == nil {
		c.cond.Wait()
	}
	if c.closing {
		return nil, false
	}
	return c.spliceReq, true
}

// deliver calls OnData while the handler makes progress. It stops when
// everything is consumed, when the handler needs more bytes (consumed 0),
// or when reads are paused, a splice takes over or the conn closes; in the
// last cases it reports that the handler still owes a look at the bytes.
func (c *conn) deliver(buf []byte, start, end int) (int, int, bool) {
	c.loop.Acquire()
	defer c.loop.Release()
	for start < end {
		if c.readHeld() {
			return start, end, true
		}
		n := c.h.OnData(c, buf[start:end])
		if n <= 0 {
			break
		}
		start += min(n, end-start)
	}
	return start, end, false
}

func (c *conn) readEOF() {
	c.mu.Lock()
	c.rdone = true
	c.mu.Unlock()
	c.loop.Acquire()
	if !c.Closed() {
		c.h.OnReadEOF(c)
	}
	c.loop.Release()
}
