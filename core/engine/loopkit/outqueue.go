package loopkit

import (
	"sync"

	"github.com/netmodels/netmodels/core/engine"
)

// MaxIov is Linux's IOV_MAX: the most slices one writev(2) or sendmsg(2)
// takes, and the most Pending hands out at once.
const MaxIov = 1024

// Out-queue chunks. Write copies its bytes (the contract lets the caller
// reuse them at once), so a busy stream would otherwise allocate, and
// make the collector reclaim, as many bytes as it sends. Copies go into
// chunks of the two sizes below, which go back to a free list once
// written; consecutive small writes share one chunk (and one iovec), a
// write larger than LargeChunk takes several.
//
// The free lists are process-wide, under a mutex, and bounded (at most
// 1 MiB of small and 2 MiB of large chunks are kept; beyond that a
// written chunk is left to the collector). They are not sync.Pools: a
// sync.Pool is emptied by every garbage collection, and each refill is an
// allocation per chunk, so a stream would allocate whenever anything else
// in the process makes the collector run.
const (
	SmallChunk = 4 << 10
	LargeChunk = 64 << 10

	maxFreeSmall = 256
	maxFreeLarge = 32
)

var (
	smallChunks = chunkList{size: SmallChunk, max: maxFreeSmall}
	largeChunks = chunkList{size: LargeChunk, max: maxFreeLarge}
)

// chunkList is a bounded free list of chunks of one size.
type chunkList struct {
	mu   sync.Mutex
	free [][]byte
	size int
	max  int
}

func (l *chunkList) get() []byte {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return b
	}
	l.mu.Unlock()
	return make([]byte, 0, l.size)
}

func (l *chunkList) put(b []byte) {
	l.mu.Lock()
	if len(l.free) < l.max {
		l.free = append(l.free, b[:0])
	}
	l.mu.Unlock()
}

// getChunk returns an empty chunk for n <= LargeChunk bytes.
func getChunk(n int) []byte {
	if n <= SmallChunk {
		return smallChunks.get()
	}
	return largeChunks.get()
}

func putChunk(b []byte) {
	switch cap(b) {
	case SmallChunk:
		smallChunks.put(b)
	case LargeChunk:
		largeChunks.put(b)
	}
}

// seg is one queued slice; owned slices are pooled chunks of our copies.
// b keeps the whole chunk (from its start, so its capacity identifies
// the pool); off is how much of it was already written.
type seg struct {
	b     []byte
	off   int
	owned bool
}

// OutQueue is a connection's bounded out-queue as pure state: the bytes
// queued in order, the limit, the high/low water marks and the OnDrained
// debt (spec/engine.md §4, engine.Handler.OnDrained), and a FIN to send
// after everything queued. It does no I/O and has no lock: every method
// must be called under the connection's own lock (or on the one goroutine
// that owns the connection). Call Init before use.
//
// The engine's write path is: Admit (all or nothing), then either write
// directly (nothing queued ahead: Len()==0) or AppendCopy/AppendOwned; its
// flusher takes Pending slices, writes them (it may drop the lock while
// writing: the slices stay valid until Consume or Discard), calls Consume,
// and delivers OnDrained on the loop whenever Admit or Consume says it is
// due, re-checking with DrainStillDue on the loop just before calling the
// handler.
type OutQueue struct {
	limit, high, low int

	segs  []seg
	head  int // segs[:head] are sent and cleared
	bytes int

	drainOwed bool // OnDrained comes at the next fall to low water
	wclosed   bool // CloseWrite asked for a FIN
	finTaken  bool // TakeFIN handed the FIN out
	discarded bool // the connection is closing
}

// Init takes the limits from cfg (defaults applied): OutQueueLimit,
// OutQueueHighWater, OutQueueLowWater.
func (q *OutQueue) Init(cfg engine.Config) {
	q.limit, q.high, q.low = cfg.OutQueueLimit, cfg.OutQueueHighWater, cfg.OutQueueLowWater
}

// Admit applies the contract to a write of n bytes before anything is
// queued or written: engine.ErrClosed after Discard or CloseWrite,
// engine.ErrOutQueueFull when Len()+n would pass OutQueueLimit. A
// refusal owes the writer an OnDrained: drainNow is true when the queue
// is already at or below low water (post OnDrained after the current
// callback); otherwise Consume reports it on the fall to low water.
func (q *OutQueue) Admit(n int) (drainNow bool, err error) {
	if q.discarded || q.wclosed {
		return false, engine.ErrClosed
	}
	if q.bytes+n > q.limit {
		if q.bytes <= q.low {
			q.drainOwed = false
			return true, engine.ErrOutQueueFull
		}
		q.drainOwed = true
		return false, engine.ErrOutQueueFull
	}
	return false, nil
}

// Size is the byte count of a Write (b) or a Writev (bufs).
func Size(b []byte, bufs [][]byte) int {
	n := len(b)
	for _, x := range bufs {
		n += len(x)
	}
	return n
}

// Advance drops the first n bytes of bufs (what a short writev took)
// and returns the rest.
func Advance(bufs [][]byte, n int) [][]byte {
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

// Queue is Admit followed by the append that engine.Conn's Write (bufs
// nil: b is copied) or Writev (bufs queued as given) needs, for engines
// that never send from the writer's goroutine. Results as for Admit.
func (q *OutQueue) Queue(b []byte, bufs [][]byte) (drainNow bool, err error) {
	drainNow, err = q.Admit(Size(b, bufs))
	if err == nil {
		q.AppendCopy(b)
		q.AppendOwned(bufs)
	}
	return drainNow, err
}

// AppendCopy queues a copy of b (admitted first), coalescing small writes
// into the pooled tail chunk and spreading a write larger than LargeChunk
// over several large chunks: no allocation per write in steady state.
func (q *OutQueue) AppendCopy(b []byte) {
	if len(b) == 0 || q.discarded {
		return
	}
	q.account(len(b))
	if n := len(q.segs); n > q.head {
		t := &q.segs[n-1]
		if t.owned && cap(t.b)-len(t.b) >= len(b) {
			t.b = append(t.b, b...)
			return
		}
	}
	for len(b) > LargeChunk {
		q.segs = append(q.segs, seg{b: append(getChunk(LargeChunk), b[:LargeChunk]...), owned: true})
		b = b[LargeChunk:]
	}
	q.segs = append(q.segs, seg{b: append(getChunk(len(b)), b...), owned: true})
}

// AppendOwned queues bufs as they are (Writev: the caller gave up
// ownership); empty slices are skipped.
func (q *OutQueue) AppendOwned(bufs [][]byte) {
	if q.discarded {
		return
	}
	for _, b := range bufs {
		if len(b) > 0 {
			q.account(len(b))
			q.segs = append(q.segs, seg{b: b})
		}
	}
}

func (q *OutQueue) account(n int) {
	q.bytes += n
	if q.bytes > q.high {
		q.drainOwed = true
	}
}

// Len is the number of bytes queued: engine.Conn's OutQueued.
func (q *OutQueue) Len() int { return q.bytes }

// Pending appends to iov (the caller's scratch, reused) the queued slices
// in order, at most max of them (at most MaxIov when max <= 0), and
// returns it. The slices stay valid, even with the lock dropped, until
// Consume has accounted them or the queue is discarded: appends never
// touch bytes already queued, and discarded chunks are not recycled.
func (q *OutQueue) Pending(iov [][]byte, max int) [][]byte {
	if max <= 0 || max > MaxIov {
		max = MaxIov
	}
	for _, s := range q.segs[q.head:] {
		if max == 0 {
			break
		}
		iov = append(iov, s.b[s.off:])
		max--
	}
	return iov
}

// Consume drops n written bytes from the front, recycles the chunks
// fully sent, and reports whether OnDrained is now due (the queue is at
// or below low water and an OnDrained was owed: a rise above high water
// or a refusal). n must not exceed Len.
func (q *OutQueue) Consume(n int) (drained bool) {
	if q.discarded {
		return false
	}
	q.bytes -= n
	for n > 0 {
		s := &q.segs[q.head]
		rest := len(s.b) - s.off
		if n < rest {
			s.off += n
			break
		}
		n -= rest
		if s.owned {
			putChunk(s.b)
		}
		*s = seg{}
		q.head++
	}
	if q.head == len(q.segs) {
		q.reset()
	}
	if q.drainOwed && q.bytes <= q.low {
		q.drainOwed = false
		return true
	}
	return false
}

// reset empties segs, keeping a small backing array for the next burst
// and giving a large one back.
func (q *OutQueue) reset() {
	if cap(q.segs) > 64 {
		q.segs = nil
	} else {
		q.segs = q.segs[:0]
	}
	q.head = 0
}

// DrainStillDue re-checks, on the loop, just before calling OnDrained,
// that it is still due: if the handler queued more since it was posted,
// the queue may be above low water again, and the event then waits for
// the next fall (it stays owed).
func (q *OutQueue) DrainStillDue() bool {
	if q.bytes > q.low {
		q.drainOwed = true
		return false
	}
	return true
}

// DrainOwed reports whether an OnDrained is owed and not yet due.
func (q *OutQueue) DrainOwed() bool { return q.drainOwed }

// CloseWrite asks for a FIN after everything queued: engine.ErrClosed
// after Discard, nil otherwise (again: nil, nothing changes). Later
// Admits fail with engine.ErrClosed.
func (q *OutQueue) CloseWrite() error {
	if q.discarded {
		return engine.ErrClosed
	}
	q.wclosed = true
	return nil
}

// WriteClosed reports whether CloseWrite was called.
func (q *OutQueue) WriteClosed() bool { return q.wclosed }

// FINPending reports whether a FIN is still to be sent, now or once the
// queue empties.
func (q *OutQueue) FINPending() bool { return q.wclosed && !q.finTaken && !q.discarded }

// TakeFIN reports, once, that the FIN is due now: CloseWrite was called
// and everything queued has been consumed. The caller then shuts the
// write side.
func (q *OutQueue) TakeFIN() bool {
	if !q.FINPending() || q.bytes > 0 {
		return false
	}
	q.finTaken = true
	return true
}

// FINSent reports whether TakeFIN handed the FIN out.
func (q *OutQueue) FINSent() bool { return q.finTaken }

// Discard drops everything for good: the connection is closing. Later
// Admits fail with engine.ErrClosed. Chunks are left to the collector,
// not recycled, because a flusher may still be writing from them. It
// reports whether this call was the first (the close that wins).
func (q *OutQueue) Discard() (first bool) {
	first = !q.discarded
	q.discarded = true
	q.segs, q.head, q.bytes, q.drainOwed = nil, 0, 0, false
	return first
}

// Discarded reports whether Discard was called.
func (q *OutQueue) Discarded() bool { return q.discarded }
