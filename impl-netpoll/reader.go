package netpollengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
)

// The read path is netpoll's: its poller (epoll, level-triggered) reads the
// socket into the connection's LinkBuffer and starts one processing task
// per connection on its goroutine pool, which calls onRequest. onRequest
// hands the buffered bytes to OnData with Peek (no copy while the bytes sit
// in one LinkBuffer node; netpoll copies them into one slice only when they
// span nodes), then Skip(consumed) and Release, so the unconsumed rest
// stays in netpoll's buffer and comes back with newer bytes appended.
//
// netpoll's task calls onRequest again for as long as bytes are buffered,
// so onRequest must not return with bytes it cannot deliver (the task would
// spin): when the handler has seen all n buffered bytes and needs more it
// waits in Peek(n+1) (netpoll's blocking read), and while reads are paused
// it parks on c.Cond.

// attachment is one netpoll connection over the socket: normally one for
// the connection's life, replaced after a false hang-up (onNetpollClose).
type attachment struct {
	nc netpoll.Connection
	ri readInterest
	// leftover: bytes onRequest took out of netpoll's buffer after a
	// hang-up (netpoll's task would spin on them), for onNetpollClose,
	// which runs after the task under the same processing lock.
	leftover []byte
}

// start attaches an established socket: OnOpen on the loop, then netpoll.
func (c *conn) start(tc *net.TCPConn) {
	if !c.SetSocket(tc) || !c.Open() {
		c.dropSpare()
		return
	}
	c.attach()
}

// attach hands the socket to netpoll, unless reading is paused: a
// connection paused from OnOpen (a proxy waiting for its backend, a
// throttle already full) is not given to netpoll until ResumeRead, so not
// one byte is read for it and TCP pushes back on the peer from the start.
func (c *conn) attach() {
	c.Mu.Lock()
	if c.Closing || c.paused {
		c.attachDeferred = c.paused && !c.Closing
		c.Mu.Unlock()
		// A deferred attach makes its own eventfd: a paused connection
		// holds one descriptor.
		c.dropSpare()
		return
	}
	spare := c.spare
	c.spare = -1
	raw := c.Raw
	if raw == nil && c.fs != nil {
		// Again after a false hang-up: from the write side's fallback,
		// which letGo made before netpoll closed the last attachment.
		raw = c.fs.RawFallback()
	}
	c.Mu.Unlock()
	if raw == nil {
		if spare >= 0 {
			_ = unix.Close(spare)
		}
		c.CloseWith(fmt.Errorf("netpoll: attach %s: %w", c.RemoteAddr(), net.ErrClosed))
		return
	}
	err := errClosedEarly
	for try := 0; try < 3 && errors.Is(err, errClosedEarly); try++ {
		err = c.attachOnce(raw, spare)
		spare = -1 // a retry takes a fresh eventfd
	}
	if err != nil {
		c.CloseWith(fmt.Errorf("netpoll: attach %s: %w", c.RemoteAddr(), err))
	}
}

// attachOnce makes an attachment: a quiet netpoll connection with the
// engine's hooks and callbacks, then the socket in place, registered.
// efd is the eventfd to use (quietConnection), or -1.
func (c *conn) attachOnce(raw syscall.RawConn, efd int) error {
	nc, op, err := quietConnection(efd)
	if err != nil {
		return err
	}
	a := &attachment{nc: nc}
	if err := a.ri.install(op, c.eng.cfg.ReadBufferSize, func() bool {
		return c.pausedFlag.Load() || nc.Reader().Len() > c.eng.readAheadLimit
	}); err != nil {
		_ = nc.Close()
		return err
	}
	// Close callbacks run newest first: ours before netpoll's own, which
	// closes the fd.
	_ = nc.AddCloseCallback(func(netpoll.Connection) error { c.onNetpollClose(a); return nil })
	_ = nc.SetOnRequest(func(context.Context, netpoll.Connection) error { return c.onRequest(a) })
	c.Mu.Lock()
	if c.Closing {
		c.Mu.Unlock()
		_ = nc.Close()
		return nil
	}
	c.att = a
	c.Mu.Unlock()
	if err := a.ri.plug(raw); err != nil {
		_ = nc.Close()
		return err
	}
	c.swapSocket(a)
	a.ri.resume() // unless paused meanwhile: then ResumeRead does
	return nil
}

// onRequest is netpoll's OnRequest for attachment a: it runs on netpoll's
// processing task, at most one per connection at a time.
func (c *conn) onRequest(a *attachment) error {
	c.eng.reg.Add()
	defer c.eng.reg.Done()
	r := a.nc.Reader()
	rbs := c.eng.cfg.ReadBufferSize
	for {
		if !c.waitResumed(a) {
			return nil // closing: netpoll's task sees the close and ends
		}
		n := r.Len()
		// netpoll has no read-ahead limit either: a handler that consumes
		// more slowly than bytes arrive would let the LinkBuffer grow.
		// Above readAheadLimit the poller stops reading this fd until the
		// handler has caught up.
		if n <= c.eng.readAheadLimit {
			a.ri.resume()
		}
		if n == 0 {
			return nil
		}
		in, err := r.Peek(min(n, rbs))
		if err != nil {
			return nil
		}
		consumed, st := c.deliver(in)
		if consumed > 0 {
			_ = r.Skip(consumed)
			_ = r.Release()
		}
		switch st {
		case fedFull:
			c.CloseWith(fmt.Errorf("netpoll: read %s: %w", c.RemoteAddr(), engine.ErrReadBufferFull))
			return nil
		case fedAll, fedHeld:
			continue // all consumed, or paused or closed meanwhile
		}
		seen := len(in) - consumed // buffered bytes the handler has seen
		if r.Len() > seen {
			continue // newer bytes already arrived
		}
		// The handler has seen every buffered byte and needs more: wait
		// for one more than it saw in netpoll's blocking read, with the
		// poller reading. Not Peek(r.Len()+1): bytes the poller reads
		// after the check above would count as seen, and the task would
		// wait for a byte beyond them that a peer waiting for our answer
		// never sends (a lost wake-up: msgr-churn's handshake timeouts).
		a.ri.resume()
		if hook := testHookWaitMore.Load(); hook != nil {
			(*hook)(r, seen)
		}
		if _, err := r.Peek(seen + 1); err != nil {
			// netpoll hung up (or we closed): onNetpollClose follows, once
			// this task has ended. netpoll's task calls onRequest again
			// while bytes are buffered, so take them out: after a false
			// hang-up they are kept (the handler still waits for the rest
			// of them), after the peer's FIN they are an incomplete
			// message no OnData will see again.
			if k := r.Len(); k > 0 && !c.Closed() {
				a.leftover, _ = r.ReadBinary(k)
			}
			_ = r.Release()
			return nil
		}
	}
}

// testHookWaitMore, when a test sets it, runs in onRequest between the
// check that the handler has seen every buffered byte and the wait for
// more: where bytes the poller reads just then must not be lost. Atomic,
// because tests set it while engines run.
var testHookWaitMore atomic.Pointer[func(r netpoll.Reader, seen int)]

// feedStop says why feeding bytes to the handler stopped.
type feedStop int

const (
	fedAll       feedStop = iota // every byte consumed
	fedHeld                      // reads paused, or the connection closing
	fedNeedsMore                 // the handler saw every byte and needs more
	fedFull                      // ... and it had a full ReadBufferSize (ErrReadBufferFull)
)

// deliver hands bytes to the handler, holding the loop's token: first the
// carry (what a false hang-up left, see keep), then in. It reports how
// much of in it consumed, bytes moved behind the carry included.
func (c *conn) deliver(in []byte) (consumed int, st feedStop) {
	c.Loop.Acquire()
	defer c.Loop.Release()
	return c.deliverLocked(in)
}

func (c *conn) deliverLocked(in []byte) (used int, st feedStop) {
	rbs := c.eng.cfg.ReadBufferSize
	for len(c.carry) > 0 {
		win := c.carry[:min(len(c.carry), rbs)]
		n, st := c.feed(win)
		seenAll := len(win) == len(c.carry)
		c.carry = c.carry[n:]
		switch {
		case st == fedHeld:
			return used, fedHeld
		case st == fedAll || !seenAll && n > 0:
			continue
		case n == 0 && len(win) == rbs:
			return used, fedFull
		case used == len(in):
			return used, fedNeedsMore
		}
		// The handler has seen the whole carry and needs more: move
		// bytes of in behind it, up to ReadBufferSize in all.
		k := min(len(in)-used, rbs-len(c.carry))
		c.carry = append(c.carry, in[used:used+k]...)
		used += k
	}
	if c.carry != nil {
		c.carry = nil
		c.carryPending.Store(false)
	}
	n, st := c.feed(in[used:])
	if st == fedNeedsMore && n == 0 && len(in)-used >= rbs {
		st = fedFull
	}
	return used + n, st
}

// feed calls OnData while the handler makes progress on in.
func (c *conn) feed(in []byte) (consumed int, st feedStop) {
	for consumed < len(in) {
		if c.readHeld() {
			return consumed, fedHeld
		}
		n := c.H.OnData(c, in[consumed:])
		if err := engine.CheckConsumed(n, len(in)-consumed); err != nil {
			c.CloseWith(err) // readHeld is true from now on
			continue
		}
		if n == 0 {
			return consumed, fedNeedsMore
		}
		consumed += n
	}
	return consumed, fedAll
}

// waitResumed parks the processing task while reads are paused; the
// poller leaves the fd out of epoll after at most one more read, so the
// kernel's receive buffer fills and TCP throttles the peer. It reports
// false once the connection is closing.
func (c *conn) waitResumed(a *attachment) bool {
	c.Mu.Lock()
	if !c.paused || c.Closing {
		ok := !c.Closing
		c.Mu.Unlock()
		return ok
	}
	for c.paused && !c.Closing {
		c.Cond.Wait()
	}
	ok := !c.Closing
	c.Mu.Unlock()
	if ok {
		a.ri.resume()
	}
	return ok
}

// onNetpollClose runs when netpoll closes attachment a, under netpoll's
// processing lock, before netpoll closes its fd: after a local Close
// (nothing to do) or after netpoll's poller reported a hang-up.
//
// netpoll reports a FIN, a reset and a false alarm alike, so the engine
// asks the kernel (peerSide). A false alarm is real: netpoll's race build
// finds a connection from an event by its fd number, so an event that
// epoll reported for a connection closed meanwhile is handed to whichever
// connection took the number next; if it says hang-up and that
// connection's socket has nothing to read, netpoll's readall retries the
// read with the buffer its first attempt reset, gets 0 and takes it for
// EOF. The socket is fine (the kernel still says ESTABLISHED): the engine
// keeps what netpoll had buffered and gives the socket to a new netpoll
// connection.
func (c *conn) onNetpollClose(a *attachment) {
	live := a.ri.release()
	c.Mu.Lock()
	current := c.att == a && !c.Closing
	fs := c.fs
	c.Mu.Unlock()
	side := peerOpen
	if live && current {
		side = c.peerSide() // on netpoll's fd: still open until we return
	}
	if fs != nil {
		// The write side stops using netpoll's fd before netpoll closes
		// it; if the connection goes on and may still use the socket (a
		// false alarm, or a peer's FIN before ours), it keeps a dup. After
		// a reset, or the peer's FIN after ours, nothing more is written:
		// no dup (a proxied connection's client side, every time).
		fs.letGo(a, current && live && (side == peerOpen || side == peerClosed && !c.finSent()))
	}
	if !live {
		return // the socket never got in (attachOnce takes another eventfd)
	}
	if !current {
		return
	}
	if side != peerOpen {
		c.readEnded(side)
		return
	}
	c.eng.falseHangUps.Add(1)
	left := a.leftover
	if r := a.nc.Reader(); r.Len() > 0 {
		more, _ := r.ReadBinary(r.Len())
		left = append(left, more...)
	}
	if len(left) > 0 {
		c.keep(left)
	}
	c.attach()
}

// keep puts bytes from a dead attachment in front of whatever the next
// one reads (deliverLocked), and has the loop deliver them even if no new
// byte comes: the handler may have a whole message among them. It runs on
// a netpoll goroutine, never on the loop.
func (c *conn) keep(b []byte) {
	c.Loop.Acquire()
	c.carry = append(c.carry, b...)
	c.carryPending.Store(true)
	c.Loop.Post(c.deliverCarry)
	c.Loop.Release()
}

// deliverCarry runs on the loop: it delivers the carry until the handler
// needs bytes the next attachment will bring, or reads are held
// (ResumeRead posts it again).
func (c *conn) deliverCarry() {
	if !c.carryPending.Load() || c.OnCloseDone || c.Closed() {
		return
	}
	if _, st := c.deliverLocked(nil); st == fedFull {
		c.CloseWith(fmt.Errorf("netpoll: read %s: %w", c.RemoteAddr(), engine.ErrReadBufferFull))
	}
}

// readEnded delivers OnReadEOF once, or closes with the reset. Every byte
// netpoll read was delivered before (the processing task has ended).
// It runs on netpoll's goroutine for the hang-up (netpoll's close
// callbacks: a goroutine netpoll starts per batch of hang-ups, or the
// ending processing task), never holding the loop's token, so OnReadEOF
// runs right there (Loop.Run, behind whatever is queued): a Post would
// start a drainer goroutine and wake another thread for it, twice per
// proxied session (client FIN, backend FIN).
// netpoll may see the FIN while reads are paused (the poller still reads
// an fd that no processing task has taken out of epoll yet): the report
// is then held until ResumeRead, as the contract says.
func (c *conn) readEnded(side peerState) {
	if c.Closed() || !c.eofClaimed.CompareAndSwap(false, true) {
		return
	}
	if side == peerReset {
		c.CloseWith(&net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", syscall.ECONNRESET)})
		return
	}
	c.Mu.Lock()
	if c.paused {
		c.eofHeld = true
		c.Mu.Unlock()
		return
	}
	c.Mu.Unlock()
	c.Loop.Run(c.runReadEOF)
}

func (c *conn) runReadEOF() {
	if c.OnCloseDone || c.Closed() || c.H == nil {
		return
	}
	c.Mu.Lock()
	if c.paused { // paused after the report was queued
		c.eofHeld = true
		c.Mu.Unlock()
		return
	}
	c.Mu.Unlock()
	// A carry still here is an incomplete message: no OnData after this.
	c.carry = nil
	c.carryPending.Store(false)
	c.H.OnReadEOF(c)
}

// finSent reports whether our FIN went out.
func (c *conn) finSent() bool {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.ShutLocked()
}

// peerState is what the kernel says the peer did.
type peerState int

const (
	peerOpen   peerState = iota // sent neither FIN nor RST
	peerClosed                  // sent FIN
	peerReset                   // sent RST
)

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpClose       = 7
)

// peerSide asks the kernel what became of the socket after netpoll
// reported a hang-up, which it does for a FIN, a reset and a false alarm
// alike (its read error is not passed on). ESTABLISHED, or FIN_WAIT after
// our own FIN, means the peer sent nothing of the kind: a false alarm.
// After a FIN the socket is in CLOSE_WAIT (or LAST_ACK, CLOSING, TIME_WAIT
// once we shut our side too); a reset leaves it in TCP_CLOSE, which is a
// reset only before our own FIN: afterwards TIME_WAIT's full socket is
// TCP_CLOSE too, so it counts as EOF. When the kernel cannot be asked, EOF.
func (c *conn) peerSide() peerState {
	shut := c.finSent()
	state := -1
	if !c.control(func(fd int) {
		if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = int(ti.State)
		}
	}) {
		return peerClosed
	}
	switch {
	case state == tcpEstablished || state == tcpFinWait1 || state == tcpFinWait2:
		return peerOpen
	case state == tcpClose && !shut:
		return peerReset
	}
	return peerClosed
}
