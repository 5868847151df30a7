package loopkit

import (
	"sync"
)

// Owner is what timers belong to, usually a connection: a timer whose
// owner is closed when it comes due is dropped instead of run, and
// Timers.Drop removes an owner's timers at once, at a cost proportional
// to that owner's timers. Owners are compared by identity and used as map
// keys, so an Owner's dynamic type must be comparable (a pointer); a nil
// Owner never closes.
type Owner interface {
	Closed() bool
}

// Timer states; a timer leaves timerPending or timerDue exactly once.
const (
	timerPending uint8 = iota // in the heap
	timerDue                  // popped by PopDue, not yet taken by Take
	timerFired                // Take handed fn to the loop
	timerStopped              // Stop won, or its owner or the heap went away
)

// Timer is one scheduled function; it implements engine.Timer. Its state
// is guarded by its Timers' mutex, which is what makes Stop's answer
// exact. The zero value is not usable: get one from Timers.Add, or give a
// Timer to Timers.Schedule to reuse its memory.
type Timer struct {
	ts    *Timers
	owner Owner
	fn    func()
	at    int64
	seq   uint64 // creation order, breaks deadline ties
	idx   int    // position in the heap, -1 outside it
	state uint8
	// The owner's list (Timers.owned): a timer is in it exactly while it
	// has an owner and is pending or due, so Drop walks only its owner's.
	linked       bool
	oprev, onext *Timer
}

// Stop prevents fn from running if the loop has not taken it yet (Take,
// or RunDue); it reports whether it did. Safe from any goroutine; on the
// loop a true answer is final, because fn runs on the loop too. A stopped
// timer leaves the heap at once, so timers re-armed on every message never
// pile up. Cost: O(log n) under the Timers' mutex.
func (t *Timer) Stop() bool {
	ts := t.ts
	if ts == nil {
		return false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch t.state {
	case timerPending:
		ts.remove(t.idx)
	case timerDue:
	default:
		return false
	}
	ts.unlink(t)
	t.state = timerStopped
	t.fn = nil
	return true
}

// Deadline is the timer's deadline on its Timers' clock.
func (t *Timer) Deadline() int64 { return t.at }

// Timers is one loop's timer heap: ordered by deadline, equal deadlines
// in creation order. Add, Schedule, Stop, Drop, DropAll, Close, Next and
// Len may be called from any goroutine; PopDue, Take and RunDue only by
// the loop (the one goroutine, or token holder, that runs the loop's
// functions). Deadlines are int64 nanoseconds on whatever clock the loop
// uses; Timers never reads a clock itself. Call Init before use.
type Timers struct {
	mu     sync.Mutex
	arm    func(at int64)
	h      []*Timer
	seq    uint64
	closed bool

	// few and owned head each owner's list of pending and due timers; an
	// owner with none has no entry. The first owners go in few, the rest
	// in the map: a loop of the goroutine and netpoll engines serves one
	// proxy session, whose idle timeout is its only timer, and a map of
	// one entry cost the session about 250 bytes for as long as it lived.
	// ownedPeak lets a burst's map go once empty.
	few       [2]ownerHead
	owned     map[Owner]*Timer
	ownedPeak int
}

// ownerHead is an owner's list as Timers.few holds it; owner nil: free.
type ownerHead struct {
	owner Owner
	head  *Timer
}

// headOf returns the head of owner's list, or nil.
func (ts *Timers) headOf(owner Owner) *Timer {
	for i := range ts.few {
		if ts.few[i].owner == owner {
			return ts.few[i].head
		}
	}
	return ts.owned[owner]
}

// setHead makes t the head of owner's list, adding an entry if needed.
func (ts *Timers) setHead(owner Owner, t *Timer) {
	free := -1
	for i := range ts.few {
		switch ts.few[i].owner {
		case owner:
			ts.few[i].head = t
			return
		case nil:
			if free < 0 {
				free = i
			}
		}
	}
	if _, ok := ts.owned[owner]; !ok && free >= 0 {
		ts.few[free] = ownerHead{owner, t}
		return
	}
	if ts.owned == nil {
		ts.owned = make(map[Owner]*Timer)
	}
	ts.owned[owner] = t
	ts.ownedPeak = max(ts.ownedPeak, len(ts.owned))
}

// Init sets arm, which Add and Schedule call when the earliest deadline
// moves earlier (a new head), so the loop can re-arm its own wake-up
// (a runtime timer, an epoll timeout, a fake clock). arm runs with the
// Timers' mutex held: it must be short and must not call back into
// Timers. A nil arm is allowed for loops that poll Next every turn.
func (ts *Timers) Init(arm func(at int64)) { ts.arm = arm }

// Add schedules fn at deadline at for owner (nil: no owner) and returns
// its timer, which costs one allocation. If owner is already closed or
// the heap is closed, fn will never run and the timer is returned
// stopped. O(log n).
func (ts *Timers) Add(owner Owner, at int64, fn func()) *Timer {
	t := new(Timer)
	ts.Schedule(t, owner, at, fn)
	return t
}

// Schedule is Add into the caller's Timer, for engines that keep one
// timer per connection and re-arm it: no allocation. t must not be
// pending or due (Stop it first), and nobody else may still hold it to
// call Stop on an earlier incarnation.
func (ts *Timers) Schedule(t *Timer, owner Owner, at int64, fn func()) {
	*t = Timer{ts: ts, owner: owner, fn: fn, at: at, idx: -1, state: timerStopped}
	if owner != nil && owner.Closed() {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return
	}
	ts.seq++
	t.seq = ts.seq
	t.state = timerPending
	t.idx = len(ts.h)
	ts.h = append(ts.h, t)
	ts.up(t.idx)
	ts.link(t)
	if t.idx == 0 && ts.arm != nil {
		ts.arm(at)
	}
}

// Next returns the earliest pending deadline; ok is false when no timer
// is pending.
func (ts *Timers) Next() (at int64, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.h) == 0 {
		return 0, false
	}
	return ts.h[0].at, true
}

// Len is the number of pending timers (stopped ones are not counted:
// they left the heap).
func (ts *Timers) Len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.h)
}

// PopDue removes and returns the earliest timer whose deadline is at or
// before now, or nil. The timer is then due: Stop can still prevent it
// until the loop calls Take. For loops that queue due timers among other
// work (memengine); others use RunDue. Loop only.
func (ts *Timers) PopDue(now int64) *Timer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.h) == 0 || ts.h[0].at > now {
		return nil
	}
	t := ts.h[0]
	ts.remove(0)
	t.state = timerDue
	return t
}

// Take claims a due timer for running: it returns fn, or nil if the
// timer was stopped meanwhile or its owner is closed (then it counts as
// stopped). After Take, Stop reports false. Loop only.
func (t *Timer) Take() func() {
	ts := t.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t.state != timerDue {
		return nil
	}
	ts.unlink(t)
	fn := t.fn
	t.fn = nil
	if t.owner != nil && t.owner.Closed() {
		t.state = timerStopped
		return nil
	}
	t.state = timerFired
	return fn
}

// RunDue runs, in order, every timer due at now that was scheduled before
// RunDue began, through run (nil: call fn directly; an engine passes its
// callback wrapper). A timer scheduled by a running timer waits for the
// next call even if already due, so a zero-delay timer that re-arms
// itself cannot starve the loop. It returns how many ran. Loop only;
// no allocation.
func (ts *Timers) RunDue(now int64, run func(fn func())) int {
	ts.mu.Lock()
	limit := ts.seq
	ts.mu.Unlock()
	ran := 0
	for {
		ts.mu.Lock()
		if len(ts.h) == 0 || ts.h[0].at > now || ts.h[0].seq > limit {
			ts.mu.Unlock()
			return ran
		}
		t := ts.h[0]
		ts.remove(0)
		ts.unlink(t)
		fn := t.fn
		t.fn = nil
		if t.owner != nil && t.owner.Closed() {
			t.state = timerStopped
			ts.mu.Unlock()
			continue
		}
		t.state = timerFired
		ts.mu.Unlock()
		ran++
		if run != nil {
			run(fn)
		} else {
			fn()
		}
	}
}

// Drop stops every pending or due timer of owner (a closing connection),
// so its long timeouts do not keep memory alive. It walks only owner's
// own timers: O(k log n) for k of them in a heap of n, so closing
// connections one by one under churn stays linear overall.
func (ts *Timers) Drop(owner Owner) {
	if owner == nil {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.headOf(owner)
	if t == nil {
		return
	}
	ts.forget(owner)
	for t != nil {
		next := t.onext
		if t.state == timerPending {
			ts.remove(t.idx)
		}
		t.linked, t.oprev, t.onext = false, nil, nil
		t.state, t.fn = timerStopped, nil
		t = next
	}
	ts.shrink()
}

// DropAll stops every pending timer, and every due one that has an owner;
// the heap stays usable.
func (ts *Timers) DropAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.dropAllLocked()
}

// Close is DropAll for good: later Adds return stopped timers.
func (ts *Timers) Close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	ts.dropAllLocked()
}

func (ts *Timers) dropAllLocked() {
	unlinkAll := func(head *Timer) {
		for t := head; t != nil; {
			next := t.onext
			t.linked, t.oprev, t.onext = false, nil, nil
			t.state, t.fn = timerStopped, nil
			t = next
		}
	}
	for _, oh := range ts.few {
		unlinkAll(oh.head)
	}
	for _, head := range ts.owned {
		unlinkAll(head)
	}
	ts.few = [len(ts.few)]ownerHead{}
	ts.owned, ts.ownedPeak = nil, 0
	for _, t := range ts.h {
		t.state, t.idx, t.fn = timerStopped, -1, nil
	}
	ts.h = nil
}

// link puts a newly pending t at the head of its owner's list.
func (ts *Timers) link(t *Timer) {
	if t.owner == nil {
		return
	}
	if head := ts.headOf(t.owner); head != nil {
		t.onext = head
		head.oprev = t
	}
	ts.setHead(t.owner, t)
	t.linked = true
}

// unlink takes t out of its owner's list as it stops being pending or due.
func (ts *Timers) unlink(t *Timer) {
	if !t.linked {
		return
	}
	switch {
	case t.oprev != nil:
		t.oprev.onext = t.onext
	case t.onext != nil:
		ts.setHead(t.owner, t.onext)
	default:
		ts.forget(t.owner)
	}
	if t.onext != nil {
		t.onext.oprev = t.oprev
	}
	t.linked, t.oprev, t.onext = false, nil, nil
}

// forget deletes owner's entry, and gives a burst's map back once no
// owner has a timer.
func (ts *Timers) forget(owner Owner) {
	for i := range ts.few {
		if ts.few[i].owner == owner {
			ts.few[i] = ownerHead{}
			return
		}
	}
	delete(ts.owned, owner)
	if len(ts.owned) == 0 && ts.ownedPeak > 256 {
		ts.owned, ts.ownedPeak = nil, 0
	}
}

// shrink gives a burst's backing array back once the heap is small.
func (ts *Timers) shrink() {
	if c := cap(ts.h); c > 256 && len(ts.h) < c/4 {
		ts.h = append([]*Timer(nil), ts.h...)
	}
}

func (ts *Timers) less(i, j int) bool {
	a, b := ts.h[i], ts.h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (ts *Timers) swap(i, j int) {
	ts.h[i], ts.h[j] = ts.h[j], ts.h[i]
	ts.h[i].idx, ts.h[j].idx = i, j
}

func (ts *Timers) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !ts.less(i, p) {
			return
		}
		ts.swap(i, p)
		i = p
	}
}

func (ts *Timers) down(i int) bool {
	i0 := i
	n := len(ts.h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && ts.less(r, l) {
			j = r
		}
		if !ts.less(j, i) {
			break
		}
		ts.swap(i, j)
		i = j
	}
	return i > i0
}

// remove takes the timer at i out of the heap.
func (ts *Timers) remove(i int) {
	n := len(ts.h) - 1
	t := ts.h[i]
	if i != n {
		ts.swap(i, n)
	}
	ts.h[n] = nil
	ts.h = ts.h[:n]
	if i != n && !ts.down(i) {
		ts.up(i)
	}
	t.idx = -1
	if n == 0 {
		ts.shrink()
	}
}
