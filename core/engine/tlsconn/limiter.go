package tlsconn

import (
	"container/list"
	"sync"
)

// DefaultMaxHandshakes is the default Limiter's size. A handshake goroutine
// mostly waits for the peer's next flight; the slots bound the goroutines
// (and their stacks, a few KiB each) that slow or stalled peers can hold,
// and the handshake timeout bounds how long each holds one.
const DefaultMaxHandshakes = 1024

// The default Limiters, one per role: a process that dials its own TLS
// listeners (a proxy chaining two of its frontends) would otherwise fill
// every slot with client handshakes waiting for server handshakes that
// cannot get one.
var (
	defaultServerLimiter = NewLimiter(DefaultMaxHandshakes)
	defaultClientLimiter = NewLimiter(DefaultMaxHandshakes)
)

// Limiter bounds the handshake goroutines of every Conn that shares it (a
// counting semaphore with a FIFO of waiting connections). A connection
// over the limit waits with its raw side paused; when a slot frees it is
// handed to the oldest waiter on that waiter's loop (Execute).
type Limiter struct {
	mu      sync.Mutex
	idle    sync.Cond
	max     int
	running int // goroutines holding a slot
	parked  int // of which waiting for input
	// granting counts slots handed to a waiter whose loop has not yet
	// started its goroutine: idle for WaitIdle, since only the loop can
	// move them on.
	granting int
	waiting  list.List
}

// NewLimiter returns a Limiter with n slots (n < 1: 1).
func NewLimiter(n int) *Limiter {
	l := &Limiter{max: max(n, 1)}
	l.idle.L = &l.mu
	return l
}

// acquire takes a slot for c (true) or queues it (false); a queued c gets
// its slot later through c.granted on its loop.
func (l *Limiter) acquire(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running < l.max {
		l.running++
		return true
	}
	c.waitElem = l.waiting.PushBack(c)
	return false
}

// forget removes a queued c (it closed before its turn).
func (l *Limiter) forget(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.waitElem != nil {
		l.waiting.Remove(c.waitElem)
		c.waitElem = nil
	}
}

// release gives a slot back, handing it to the oldest waiter that can
// still take it.
func (l *Limiter) release() {
	for {
		l.mu.Lock()
		front := l.waiting.Front()
		if front == nil {
			l.running--
			l.idle.Broadcast()
			l.mu.Unlock()
			return
		}
		c := l.waiting.Remove(front).(*Conn)
		c.waitElem = nil
		// The slot moves to c (running unchanged). If c's loop refuses
		// the function (closing), try the next waiter; if it accepts it
		// but drops it in a race with a close, c's OnClose gives the slot
		// back (cancelGrant).
		c.grantPending = true
		l.granting++
		l.idle.Broadcast()
		l.mu.Unlock()
		if c.raw.Execute(c.granted) == nil {
			return
		}
		l.mu.Lock()
		if c.grantPending {
			c.grantPending = false
			l.granting--
		}
		l.mu.Unlock()
	}
}

// granted is called on the waiter's loop when its handed-over slot
// arrives.
// grantArrived reports whether c still held a pending grant (false: its
// close took the slot back already).
func (l *Limiter) grantArrived(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !c.grantPending {
		return false
	}
	c.grantPending = false
	l.granting--
	l.idle.Broadcast()
	return true
}

// cancelGrant gives back a slot handed to c whose granted function will
// not run (c closed first).
func (l *Limiter) cancelGrant(c *Conn) {
	l.mu.Lock()
	pending := c.grantPending
	if pending {
		c.grantPending = false
		l.granting--
	}
	l.mu.Unlock()
	if pending {
		l.release()
	}
}

func (l *Limiter) park() {
	l.mu.Lock()
	l.parked++
	l.idle.Broadcast()
	l.mu.Unlock()
}

func (l *Limiter) unpark() {
	l.mu.Lock()
	l.parked--
	l.mu.Unlock()
}

// Running is the number of handshake goroutines holding a slot.
func (l *Limiter) Running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running
}

// WaitIdle returns once every handshake goroutine of l is waiting for
// bytes from the loop or has ended. Tests on an engine with a fake clock
// (memengine) call it between Settles: a handshake goroutine runs outside
// the engine's loop, and once WaitIdle returns everything it did (writes,
// the Execute reporting its end) is queued on the engine.
func (l *Limiter) WaitIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.running > l.parked+l.granting {
		l.idle.Wait()
	}
}
