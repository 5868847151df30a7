package serial

import (
	"sync"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// The write path. The queue itself (limit, high/low water, the OnDrained
// debt, pooled copies, the FIN after the queue) is loopkit.OutQueue; what
// serial adds is how it is written. A write with nothing queued ahead of
// it is tried at once on the caller's goroutine with one non-blocking
// write(2)/writev(2) (the common case for request/response traffic: no
// goroutine hand-off, no copy). What the kernel does not take is queued,
// and a flusher goroutine is started that writes the queue with writev,
// waiting for writability in a poller, and exits when the queue is empty.
// Write itself never blocks beyond the connection's mutex and one
// non-blocking syscall.

// OutConfig is what an OutQueue needs from its engine and connection,
// besides the limits.
type OutConfig struct {
	// Loop runs OnDrained; Group counts the flusher goroutine.
	Loop  *Loop
	Group *loopkit.Group
	// OnDrained is posted to Loop on the fall to low water after a refusal
	// or a rise above high water. It runs later: it should check DrainDue
	// before calling the handler, so the event never arrives stale.
	OnDrained func()
	// Fail closes the connection with a write error. It is called without
	// the connection's mutex held, and must discard the queue (Discard).
	Fail func(error)
	// Idle, if not nil, is broadcast whenever the flusher stops, for a
	// goroutine waiting to Claim the write side. Its L must be the mutex
	// given to Init.
	Idle *sync.Cond
}

// OutQueue is a connection's bounded out-queue and its flusher; embedded in
// a connection, it provides engine.Conn's Write, Writev, OutQueued and
// CloseWrite. It shares the connection's mutex (given to Init), so the
// connection's own close and splice logic sees one consistent state;
// methods named ...Locked must be called with that mutex held.
type OutQueue struct {
	mu   *sync.Mutex
	cfg  OutConfig
	sock Socket // nil until connected

	q        loopkit.OutQueue
	claimed  bool     // another writer (a splice) owns the socket's write side
	flushing bool     // a flusher goroutine owns the socket's write side
	flushFn  func()   // q.flush, built once: a go statement with a method value would allocate per start
	iov      [][]byte // the flusher's iovec array, kept between flushers when small (keptIov)
}

// keptIov: a flusher's iovec array of at most this many slices (384
// bytes) stays with the connection for the next flusher, so that a
// connection whose writes sometimes queue does not allocate one per
// flusher; a larger one (a deep queue) goes with its flusher.
const keptIov = 16

// Init prepares q with the out-queue limits of limits (an engine.Config
// with its defaults applied); mu is the connection's mutex.
func (q *OutQueue) Init(mu *sync.Mutex, limits engine.Config, cfg OutConfig) {
	q.mu, q.cfg = mu, cfg
	q.q.Init(limits)
	q.flushFn = q.flush
}

// Write implements engine.Conn.
func (q *OutQueue) Write(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.admitLocked(len(b)); err != nil || len(b) == 0 {
		return err
	}
	if q.canWriteNowLocked() {
		n, err := q.sock.TryWrite(b)
		if err != nil {
			q.failLocked(err)
			return engine.ErrClosed
		}
		if n == len(b) {
			return nil
		}
		b = b[n:]
	}
	q.q.AppendCopy(b)
	q.kickLocked()
	return nil
}

// Writev implements engine.Conn; bufs are queued as they are, not copied.
func (q *OutQueue) Writev(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.admitLocked(total); err != nil || total == 0 {
		return err
	}
	if q.canWriteNowLocked() {
		n, err := q.sock.TryWritev(bufs[:min(len(bufs), loopkit.MaxIov)])
		if err != nil {
			q.failLocked(err)
			return engine.ErrClosed
		}
		if n == total {
			return nil
		}
		bufs = loopkit.Advance(bufs, n)
	}
	q.q.AppendOwned(bufs)
	q.kickLocked()
	return nil
}

// OutQueued implements engine.Conn.
func (q *OutQueue) OutQueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.Len()
}

// CloseWrite implements engine.Conn: FIN goes out after the queue.
func (q *OutQueue) CloseWrite() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.q.CloseWrite(); err != nil {
		return err
	}
	q.kickLocked()
	return nil
}

// ConnectLocked gives q its socket once connected, and starts writing
// what (bytes, a FIN) was queued while dialing.
func (q *OutQueue) ConnectLocked(s Socket) {
	q.sock = s
	q.kickLocked()
}

// DiscardLocked drops the queue for good: the connection is closing. A
// running flusher stops at its next step.
func (q *OutQueue) DiscardLocked() { q.q.Discard() }

// FreeLocked reports whether the socket's write side can be claimed now:
// connected, nothing queued, no flusher, no other claim.
func (q *OutQueue) FreeLocked() bool {
	return q.sock != nil && q.q.Len() == 0 && !q.flushing && !q.claimed
}

// ClaimLocked hands the socket's write side to another writer (a splice)
// until UnclaimLocked: writes meanwhile are queued, not tried.
func (q *OutQueue) ClaimLocked() { q.claimed = true }

// UnclaimLocked ends a claim and starts flushing what queued meanwhile.
func (q *OutQueue) UnclaimLocked() {
	q.claimed = false
	q.kickLocked()
}

// ClaimedLocked reports whether a claim is in force.
func (q *OutQueue) ClaimedLocked() bool { return q.claimed }

// ShutLocked reports whether our FIN was sent.
func (q *OutQueue) ShutLocked() bool { return q.q.FINSent() }

// DrainDue re-checks, on the loop, that OnDrained is still due: if the
// handler queued more since the event was posted, the queue may be above
// low water again, and the event waits for the next fall instead.
func (q *OutQueue) DrainDue() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.DrainStillDue()
}

// admitLocked applies the all-or-nothing limit. A refusal owes the writer
// OnDrained: now, if the queue is already at or below low water (a write
// too large for a nearly empty queue), else when the flusher gets it there.
func (q *OutQueue) admitLocked(n int) error {
	drainNow, err := q.q.Admit(n)
	if drainNow {
		q.cfg.Loop.Post(q.cfg.OnDrained)
	}
	return err
}

func (q *OutQueue) canWriteNowLocked() bool {
	return q.sock != nil && !q.flushing && !q.claimed && q.q.Len() == 0
}

// kickLocked starts the flusher when there is something to do and the
// socket is free: queued bytes, or a pending FIN.
func (q *OutQueue) kickLocked() {
	if q.sock == nil || q.q.Discarded() || q.flushing || q.claimed {
		return
	}
	if q.q.Len() == 0 && !q.q.FINPending() {
		return
	}
	q.flushing = true
	q.cfg.Group.Add()
	go q.flushFn()
}

// failLocked closes the connection with err from a path holding mu.
func (q *OutQueue) failLocked(err error) {
	q.mu.Unlock()
	q.cfg.Fail(err)
	q.mu.Lock()
}

// idleLocked wakes a goroutine waiting to claim the write side.
func (q *OutQueue) idleLocked() {
	if q.cfg.Idle != nil {
		q.cfg.Idle.Broadcast()
	}
}

// flush writes the queue until it is empty, then sends FIN if CloseWrite
// asked for it, then exits. The slices Pending hands out stay valid with
// the mutex dropped (loopkit.OutQueue), so writev runs without it.
func (q *OutQueue) flush() {
	defer q.cfg.Group.Done()
	q.mu.Lock()
	iovBuf := q.iov // see keptIov
	q.iov = nil
	for !q.q.Discarded() && !q.claimed {
		if q.q.Len() == 0 {
			if q.q.TakeFIN() {
				s := q.sock
				q.mu.Unlock()
				// An error here means the peer already reset us; the
				// reader reports that.
				_ = s.CloseWrite()
				q.mu.Lock()
			}
			break
		}
		iov := q.q.Pending(iovBuf[:0], loopkit.MaxIov)
		q.mu.Unlock()
		n, err := q.sock.Writev(iov)
		q.mu.Lock()
		clear(iov)
		iovBuf = iov
		if q.q.Discarded() {
			break
		}
		if q.q.Consume(n) {
			q.cfg.Loop.Post(q.cfg.OnDrained)
		}
		if err != nil {
			q.flushing = false
			q.idleLocked()
			q.failLocked(err)
			q.mu.Unlock()
			return
		}
	}
	if cap(iovBuf) <= keptIov {
		q.iov = iovBuf[:0]
	}
	q.flushing = false
	q.idleLocked()
	q.mu.Unlock()
}
