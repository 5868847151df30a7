package msgr

import (
	"sync"

	"github.com/netmodels/netmodels/core/msgr/protocol"
)

// maxQueuedEvents bounds connection events (connect/accept/reset) waiting
// for the dispatcher; beyond it events are dropped and counted. Messages
// are bounded by the dispatch throttles instead.
const maxQueuedEvents = 1 << 16

type item struct {
	m  *Message
	ev protocol.Event
	c  *Connection
}

// dispatchQueue is Ceph's DispatchQueue: priorities served strictly,
// FIFO within a priority, one consumer goroutine.
type dispatchQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	prios   []prioQ // highest first
	n       int
	events  int
	dropped uint64
	stopped bool
}

type prioQ struct {
	prio uint16
	q    []item
	head int
}

func newDispatchQueue() *dispatchQueue {
	d := &dispatchQueue{}
	d.cond = sync.NewCond(&d.mu)
	return d
}

func (d *dispatchQueue) push(prio uint16, it item) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return false
	}
	if it.m == nil {
		if d.events >= maxQueuedEvents {
			d.dropped++
			return false
		}
		d.events++
	}
	i := 0
	for ; i < len(d.prios) && d.prios[i].prio > prio; i++ {
	}
	if i == len(d.prios) || d.prios[i].prio != prio {
		d.prios = append(d.prios, prioQ{})
		copy(d.prios[i+1:], d.prios[i:])
		d.prios[i] = prioQ{prio: prio}
	}
	d.prios[i].q = append(d.prios[i].q, it)
	d.n++
	d.cond.Signal()
	return true
}

// pop blocks until an item is available or the queue stops (ok=false).
func (d *dispatchQueue) pop() (item, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.n == 0 && !d.stopped {
		d.cond.Wait()
	}
	if d.n == 0 {
		return item{}, false
	}
	for i := range d.prios {
		p := &d.prios[i]
		if p.head < len(p.q) {
			it := p.q[p.head]
			p.q[p.head] = item{}
			p.head++
			if p.head == len(p.q) {
				p.q, p.head = p.q[:0], 0
			}
			d.n--
			if it.m == nil {
				d.events--
			}
			return it, true
		}
	}
	return item{}, false
}

func (d *dispatchQueue) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// stop wakes the consumer; remaining messages are released by drain.
func (d *dispatchQueue) stop() []item {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	var rest []item
	for i := range d.prios {
		p := &d.prios[i]
		rest = append(rest, p.q[p.head:]...)
		p.q, p.head = nil, 0
	}
	d.n, d.events = 0, 0
	d.cond.Broadcast()
	return rest
}
