package goroutine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// dialAndRun connects, then becomes the connection's reader.
func (c *conn) dialAndRun(ctx context.Context, addr string, timeout time.Duration) {
	defer c.eng.reg.Done()
	tc := c.DialTCP(ctx, addr, timeout)
	if tc == nil || !c.SetSocket(tc) {
		return
	}
	c.run()
}

func (c *conn) readLoop() {
	defer c.eng.reg.Done()
	c.run()
}

// run delivers OnOpen and then reads until EOF, error or close. Callbacks
// run here, on the reader's own stack, while holding the loop's token.
func (c *conn) run() {
	if !c.Open() {
		return
	}

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
				c.CloseWith(fmt.Errorf("goroutine: read %s: %w", c.RemoteAddr(), engine.ErrReadBufferFull))
				return
			}
			buf = grow(buf, end, maxBuf)
			wantGrow = false
		}
		n, err := c.TCP.Read(buf[end:])
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
				c.CloseWith(err)
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
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for c.paused && !c.Closing && c.spliceReq == nil {
		c.Cond.Wait()
	}
	if c.Closing {
		return nil, false
	}
	return c.spliceReq, true
}

// deliver calls OnData while the handler makes progress. It stops when
// everything is consumed, when the handler needs more bytes (consumed 0),
// or when reads are paused, a splice takes over or the conn closes; in the
// last cases it reports that the handler still owes a look at the bytes.
func (c *conn) deliver(buf []byte, start, end int) (int, int, bool) {
	c.Loop.Acquire()
	defer c.Loop.Release()
	for start < end {
		if c.readHeld() {
			return start, end, true
		}
		n := c.H.OnData(c, buf[start:end])
		if err := engine.CheckConsumed(n, end-start); err != nil {
			c.CloseWith(err) // readHeld is true from now on
			continue
		}
		if n == 0 {
			break
		}
		start += n
	}
	return start, end, false
}

func (c *conn) readEOF() {
	c.Mu.Lock()
	c.rdone = true
	c.Mu.Unlock()
	c.Loop.Acquire()
	if !c.Closed() {
		c.H.OnReadEOF(c)
	}
	c.Loop.Release()
}
