package serial

import (
	"sync"

	"github.com/netmodels/netmodels/core/engine"
)

// The write path. A write with nothing queued ahead of it is tried at once
// on the caller's goroutine with one non-blocking write(2)/writev(2) (the
// common case for request/response traffic: no goroutine hand-off, no
// copy). What the kernel does not take is queued, bounded by
// Config.OutQueueLimit, and a flusher goroutine is started that writes the
// queue with writev, waiting for writability in a poller, and exits when
// the queue is empty. Write itself never blocks beyond the connection's
// mutex and one non-blocking syscall.

// MaxIov is the kernel's IOV_MAX: the most slices one writev takes.
const MaxIov = 1024

// OutConfig is what an OutQueue needs from its engine and connection,
// besides the limits.
type OutConfig struct {
	// Loop runs OnDrained; Group counts the flusher goroutine.
	Loop  *Loop
	Group *Group
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

	// engine.Config's OutQueueLimit, OutQueueHighWater and
	// OutQueueLowWater (spec/engine.md §4).
	limit, highWater, lowWater int

	discarded bool // the connection is closing: nothing more is written
	claimed   bool // another writer (a splice) owns the socket's write side

	// out holds the queued bytes in order; outBytes is their sum.
	out         [][]byte
	outBytes    int
	tailOwned   bool // out's last slice was allocated by Write and may be appended to
	flushing    bool // a flusher goroutine owns the socket's write side
	wclosed     bool // CloseWrite called
	wshut       bool // shutdown(SHUT_WR) done
	drainWanted bool // OnDrained is due at the next fall to low water
}

// Init prepares q with the out-queue limits of limits (an engine.Config
// with its defaults applied); mu is the connection's mutex.
func (q *OutQueue) Init(mu *sync.Mutex, limits engine.Config, cfg OutConfig) {
	q.mu, q.cfg = mu, cfg
	q.limit, q.highWater, q.lowWater = limits.OutQueueLimit, limits.OutQueueHighWater, limits.OutQueueLowWater
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
	q.appendCopyLocked(b)
	q.queuedLocked(len(b))
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
		n, err := q.sock.TryWritev(bufs[:min(len(bufs), MaxIov)])
		if err != nil {
			q.failLocked(err)
			return engine.ErrClosed
		}
		if n == total {
			return nil
		}
		bufs = advance(bufs, n)
		total -= n
	}
	for _, b := range bufs {
		if len(b) > 0 {
			q.out = append(q.out, b)
		}
	}
	q.tailOwned = false
	q.queuedLocked(total)
	return nil
}

// OutQueued implements engine.Conn.
func (q *OutQueue) OutQueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.outBytes
}

// CloseWrite implements engine.Conn: FIN goes out after the queue.
func (q *OutQueue) CloseWrite() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.discarded {
		return engine.ErrClosed
	}
	if q.wclosed {
		return nil
	}
	q.wclosed = true
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
func (q *OutQueue) DiscardLocked() {
	q.discarded = true
	q.out, q.outBytes, q.tailOwned = nil, 0, false
}

// FreeLocked reports whether the socket's write side can be claimed now:
// connected, nothing queued, no flusher, no other claim.
func (q *OutQueue) FreeLocked() bool {
	return q.sock != nil && q.outBytes == 0 && !q.flushing && !q.claimed
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
func (q *OutQueue) ShutLocked() bool { return q.wshut }

// DrainDue re-checks, on the loop, that OnDrained is still due: if the
// handler queued more since the event was posted, the queue may be above
// low water again, and the event waits for the next fall instead.
func (q *OutQueue) DrainDue() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.outBytes > q.lowWater {
		q.drainWanted = true
		return false
	}
	return true
}

// admitLocked applies the all-or-nothing limit. A refusal arms OnDrained
// so the writer learns when to retry.
func (q *OutQueue) admitLocked(n int) error {
	if q.discarded || q.wclosed {
		return engine.ErrClosed
	}
	if q.outBytes+n > q.limit {
		// A refused writer is owed OnDrained once the queue is at or
		// below low water: now, if it already is (a write too large for
		// a nearly empty queue), else when the flusher gets it there.
		if q.outBytes <= q.lowWater {
			q.drainWanted = false
			q.cfg.Loop.Post(q.cfg.OnDrained)
		} else {
			q.drainWanted = true
		}
		return engine.ErrOutQueueFull
	}
	return nil
}

func (q *OutQueue) canWriteNowLocked() bool {
	return q.sock != nil && !q.flushing && !q.claimed && q.outBytes == 0
}

// appendCopyLocked queues a copy of b, coalescing small writes into the
// tail buffer it owns so that many tiny writes become few iovecs.
func (q *OutQueue) appendCopyLocked(b []byte) {
	if q.tailOwned && len(q.out) > 0 {
		tail := q.out[len(q.out)-1]
		if cap(tail)-len(tail) >= len(b) {
			q.out[len(q.out)-1] = append(tail, b...)
			return
		}
	}
	nb := make([]byte, len(b), max(len(b), 4096))
	copy(nb, b)
	q.out = append(q.out, nb)
	q.tailOwned = true
}

// queuedLocked accounts n new bytes, arms OnDrained above high water and
// starts a flusher if none runs.
func (q *OutQueue) queuedLocked(n int) {
	q.outBytes += n
	if q.outBytes > q.highWater {
		q.drainWanted = true
	}
	q.kickLocked()
}

// kickLocked starts the flusher when there is something to do and the
// socket is free: queued bytes, or a pending FIN.
func (q *OutQueue) kickLocked() {
	if q.sock == nil || q.discarded || q.flushing || q.claimed {
		return
	}
	if q.outBytes == 0 && !(q.wclosed && !q.wshut) {
		return
	}
	q.flushing = true
	q.cfg.Group.Add()
	go q.flush()
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
// asked for it, then exits.
func (q *OutQueue) flush() {
	defer q.cfg.Group.Done()
	var iovBuf [][]byte // private copy of the slice headers: Write may
	// extend the tail slice in q.out while writev reads this one
	q.mu.Lock()
	for {
		if q.discarded || q.claimed {
			break
		}
		if q.outBytes == 0 {
			if q.wclosed && !q.wshut {
				q.wshut = true
				s := q.sock
				q.mu.Unlock()
				// An error here means the peer already reset us; the
				// reader reports that.
				_ = s.CloseWrite()
				q.mu.Lock()
			}
			break
		}
		iov := append(iovBuf[:0], q.out[:min(len(q.out), MaxIov)]...)
		iovBuf = iov
		q.mu.Unlock()
		n, err := q.sock.Writev(iov)
		q.mu.Lock()
		if q.discarded {
			break
		}
		clear(iov)
		q.consumeLocked(n)
		if err != nil {
			q.flushing = false
			q.idleLocked()
			q.failLocked(err)
			q.mu.Unlock()
			return
		}
	}
	q.flushing = false
	q.idleLocked()
	q.mu.Unlock()
}

// consumeLocked drops n written bytes from the front of the queue and
// posts OnDrained on the fall to low water.
func (q *OutQueue) consumeLocked(n int) {
	q.outBytes -= n
	for n > 0 {
		if n >= len(q.out[0]) {
			n -= len(q.out[0])
			q.out[0] = nil
			q.out = q.out[1:]
			continue
		}
		q.out[0] = q.out[0][n:]
		n = 0
	}
	if len(q.out) == 0 {
		q.out, q.tailOwned = q.out[:0], false
	}
	if q.drainWanted && q.outBytes <= q.lowWater {
		q.drainWanted = false
		q.cfg.Loop.Post(q.cfg.OnDrained)
	}
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		bufs[0] = bufs[0][n:]
		n = 0
	}
	return bufs
}
