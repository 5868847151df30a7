package netsim

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// Counters are one direction's frame counts since the link was made.
type Counters struct {
	Forwarded  uint64 // frames delivered to the far side (duplicates included)
	Lost       uint64 // dropped by the Loss probability
	QueueDrops uint64 // dropped because Limit frames were queued (drop-tail)
	Duplicated uint64 // extra copies queued by the Duplicate probability
	Reordered  uint64 // frames that skipped the delay and overtook a frame in flight
}

// Link is one direction of an emulated link as pure logic: frames go in
// with Arrive and come out with Pop, and every decision takes the time
// from the caller, so a test drives it with a fake clock and no devices.
// It is not safe for concurrent use (the emulator holds a lock).
//
// Per frame, in netem's order: loss, duplicate, the queue limit, then the
// token bucket gives the time the frame may leave, and the delay (or, for
// a reordered frame, none) the time it arrives. The random source is
// seeded, and every frame draws the same number of values whatever
// happens to it, so the n-th frame meets the same fate in every run with
// that seed.
type Link struct {
	p       Profile
	rng     *rand.Rand
	q       frameHeap
	seq     uint64
	tat     time.Time // token bucket: when the bucket is full again (GCRA's theoretical arrival time)
	lastDue time.Time // the latest due time of an in-order frame: jitter never reorders
	c       Counters
}

// NewLink returns one direction of a link under p, its randomness seeded
// with seed.
func NewLink(p Profile, seed uint64) *Link {
	return &Link{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x6e657473696d))}
}

type frame struct {
	due time.Time
	seq uint64
	b   []byte
}

// Arrive hands b to the link at now. It reports whether the link kept b
// (queued it): when false, b was dropped and the caller may reuse it;
// when true, b belongs to the link until Pop returns it.
func (l *Link) Arrive(now time.Time, b []byte) bool {
	lose := l.rng.Float64() < l.p.Loss
	dup := l.rng.Float64() < l.p.Duplicate
	reorder := l.rng.Float64() < l.p.Reorder
	jitter := time.Duration(0)
	if l.p.Jitter > 0 {
		jitter = time.Duration(l.rng.Int64N(2*int64(l.p.Jitter)+1)) - l.p.Jitter
	} else {
		_ = l.rng.Int64()
	}
	if lose {
		l.c.Lost++
		return false
	}
	if !l.enqueue(now, b, reorder, jitter) {
		return false
	}
	if dup && l.enqueue(now, append([]byte(nil), b...), reorder, jitter) {
		l.c.Duplicated++
	}
	return true
}

func (l *Link) enqueue(now time.Time, b []byte, reorder bool, jitter time.Duration) bool {
	if len(l.q) >= l.p.limit() {
		l.c.QueueDrops++
		return false
	}
	send := l.shape(now, len(b))
	due := send
	if reorder {
		if due.Before(l.lastDue) {
			l.c.Reordered++
		}
	} else {
		due = send.Add(l.p.Delay + jitter)
		if due.Before(send) {
			due = send
		}
		if due.Before(l.lastDue) {
			due = l.lastDue
		}
		l.lastDue = due
	}
	l.seq++
	heap.Push(&l.q, frame{due: due, seq: l.seq, b: b})
	return true
}

// shape is the token bucket in its virtual-time form (GCRA): a frame of n
// bytes costs n*8/Rate of link time; a full bucket lets Burst bytes go at
// once, and after that frames leave as fast as the rate refills it.
// It returns when the frame may leave; frames leave in arrival order.
func (l *Link) shape(now time.Time, n int) time.Time {
	if l.p.Rate <= 0 {
		return now
	}
	cost := time.Duration(int64(n) * 8 * int64(time.Second) / l.p.Rate)
	// A full bucket holds Burst bytes: the frame conforms when the bucket
	// holds its n bytes, so the tolerance is the rest of the bucket.
	tau := max(time.Duration(int64(l.p.burst())*8*int64(time.Second)/l.p.Rate)-cost, 0)
	send := now
	if t := l.tat.Add(-tau); t.After(send) {
		send = t
	}
	if l.tat.Before(now) {
		l.tat = now
	}
	l.tat = l.tat.Add(cost)
	return send
}

// Next returns when the next frame is due; false when none is queued.
func (l *Link) Next() (time.Time, bool) {
	if len(l.q) == 0 {
		return time.Time{}, false
	}
	return l.q[0].due, true
}

// Pop returns the next frame due at or before now, in due order (equal
// due times in arrival order); false when none is due yet.
func (l *Link) Pop(now time.Time) ([]byte, bool) {
	if len(l.q) == 0 || l.q[0].due.After(now) {
		return nil, false
	}
	f := heap.Pop(&l.q).(frame)
	l.c.Forwarded++
	return f.b, true
}

// Len is how many frames are queued.
func (l *Link) Len() int { return len(l.q) }

// Counters returns the counts so far.
func (l *Link) Counters() Counters { return l.c }

type frameHeap []frame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(frame)) }
func (h *frameHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	old[len(old)-1] = frame{}
	*h = old[:len(old)-1]
	return f
}
