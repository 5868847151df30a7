package goroutine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/netmodels/netmodels/core/engine"
)

// dialAndRun connects, delivers OnOpen, then starts the connection's
// reader. The reader is a goroutine of its own, not this one: net.Dialer's
// call chain grows a stack to 8 KiB, and a goroutine keeps the stack it
// grew (the collector halves it only while less than a quarter is in use),
// so a reader that had dialed held twice the stack of an accepted one for
// as long as its connection lived. One goroutine start per dial buys that
// back.
func (c *conn) dialAndRun(ctx context.Context, addr string) {
	defer c.eng.reg.Done()
	tc := c.DialTCP(ctx, addr)
	if tc == nil || !c.SetSocket(tc) {
		return
	}
	c.openAndRead()
}

// openAndRead delivers OnOpen on the calling goroutine and then starts the
// reader in a fresh one, for the same reason as dialAndRun: a handler's
// OnOpen can run deep (a proxy session connects its backend, arms its
// timers and logs from there), and a parked reader whose stack grew to
// 4 KiB never shrinks again (the collector halves a stack only while less
// than a quarter of it is in use, and a reader waiting in the netpoller
// uses more than that of 4 KiB). So OnOpen runs on a short-lived goroutine
// (the dialer's, or one started per accepted connection) and the reader
// that waits out the connection's idle time starts at the minimum stack.
func (c *conn) openAndRead() {
	if !c.Open() {
		return
	}
	c.eng.reg.Add()
	go c.readLoop()
}

func (c *conn) openLoop() {
	defer c.eng.reg.Done()
	c.openAndRead()
}

func (c *conn) readLoop() {
	defer c.eng.reg.Done()
	c.run()
}

// run reads, once OnOpen has been delivered, until EOF, error or close. Callbacks
// run here, on the reader's own stack, while holding the loop's token.
//
// The read buffer is held only while it holds bytes: the reader waits for
// readability in the runtime's netpoller without a buffer (readSome), takes
// one from the engine's pool when the kernel has bytes for it, and gives it
// back once the handler has consumed everything. An idle connection
// therefore costs its goroutine and no buffer. The size starts small and
// doubles, up to ReadBufferSize, whenever a read fills the buffer: busy
// connections read 64 KiB at once.
func (c *conn) run() {
	r := &c.rd
	r.size = min(initialReadBuffer, c.eng.bufs.Max())
	defer r.release()
	var start, end int // buf[start:end] is received and not consumed
	pending := false   // the handler has not yet seen all of buf[start:end]
	eof := false
	for {
		sp, ok := c.waitReadable()
		if !ok {
			return
		}
		if sp != nil {
			var fin bool
			start, end, fin = c.runSplice(sp, r.bytes(), start, end)
			if fin {
				return
			}
			pending = start < end
			continue
		}
		if pending {
			start, end, pending = c.deliver(r.bytes(), start, end)
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
			r.release() // idle: nothing held
		} else if start > 0 {
			end = copy(r.bytes(), r.bytes()[start:end])
			start = 0
		}
		if r.buf != nil && end == len(*r.buf) {
			if end == c.eng.cfg.ReadBufferSize {
				c.CloseWith(fmt.Errorf("goroutine: read %s: %w", c.RemoteAddr(), engine.ErrReadBufferFull))
				return
			}
			r.buf = c.eng.bufs.Grow(r.buf, end)
		}
		n, err := r.readSome(c, end)
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

// initialReadBuffer is the first read size of a connection.
const initialReadBuffer = 4 << 10

// readState is the reader's buffer. It lives in the conn so that the
// function handed to syscall.RawConn.Read is made once per connection,
// not once per read.
type readState struct {
	eng  *Engine
	buf  *[]byte // nil while no byte is held
	size int     // the size of the next buffer taken
	end  int     // readFD reads into buf[end:]
	n    int
	err  error
	fn   func(fd uintptr) bool // readFD, bound once
}

func (r *readState) bytes() []byte {
	if r.buf == nil {
		return nil
	}
	return *r.buf
}

// release gives the buffer back to the pool.
func (r *readState) release() {
	if r.buf != nil {
		r.eng.bufs.Put(r.buf)
		r.buf = nil
	}
}

// readSome waits until the socket is readable and reads into the buffer
// from end on, taking a buffer first if none is held. It returns io.EOF at
// the peer's FIN and a *net.OpError as net.TCPConn.Read does.
func (r *readState) readSome(c *conn, end int) (int, error) {
	r.end, r.n, r.err = end, 0, nil
	if err := c.Raw.Read(r.fn); err != nil {
		return 0, err // the socket was closed
	}
	switch {
	case r.err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", r.err)}
	case r.n == 0:
		return 0, io.EOF
	}
	// A read that fills the buffer suggests more is waiting: the next
	// buffer taken is bigger.
	if r.end+r.n == len(*r.buf) {
		r.size = min(2*len(*r.buf), r.eng.bufs.Max())
	}
	return r.n, nil
}

// readFD is one read attempt, run by the netpoller's wait loop: false
// means "nothing yet, wait for readability". A buffer taken for an
// attempt that finds nothing goes back before the reader parks.
func (r *readState) readFD(fd uintptr) bool {
	if r.buf == nil {
		r.buf = r.eng.bufs.Get(r.size)
	}
	for {
		r.n, r.err = syscall.Read(int(fd), (*r.buf)[r.end:])
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		if r.end == 0 {
			r.release()
		}
		return false
	}
	if r.n < 0 {
		r.n = 0
	}
	return true
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
