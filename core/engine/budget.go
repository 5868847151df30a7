package engine

import "sync"

// AcceptBudget is how many connections the listeners that share it may
// still accept: HAProxy's per-frontend maxconn, counted where HAProxy
// counts it, at accept. Pause alone cannot hold a limit exactly, because an
// engine hands a connection to its loop before the owner sees it (in
// newHandler or OnOpen), and may accept many more meanwhile. With a budget
// the engine takes one unit for every connection it accepts and hands over,
// and makes no accept call while none is left (as if paused, and waking
// when Give brings one back). The owner gives a unit back when a
// connection accepted under the budget ends.
//
// A listener blocked in an accept when another listener of the same budget
// takes the last unit may still hand over that one connection, so the
// count can go below zero by at most the number of listeners sharing the
// budget, less one.
type AcceptBudget struct {
	mu     sync.Mutex
	n      int
	wakers []func()
}

// NewAcceptBudget returns a budget of n connections.
func NewAcceptBudget(n int) *AcceptBudget { return &AcceptBudget{n: n} }

// Left is the number of connections that may still be accepted (below
// zero after the race described above).
func (b *AcceptBudget) Left() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Take is the engine's: it records one accepted connection.
func (b *AcceptBudget) Take() {
	b.mu.Lock()
	b.n--
	b.mu.Unlock()
}

// Give is the owner's: k connections accepted under the budget ended.
// When the budget was exhausted, every listener sharing it is woken.
func (b *AcceptBudget) Give(k int) {
	b.mu.Lock()
	wake := b.n <= 0 && b.n+k > 0
	b.n += k
	wakers := b.wakers
	b.mu.Unlock()
	if wake {
		for _, w := range wakers {
			w()
		}
	}
}

// OnGive is the engine's: it registers how to wake its accept path when
// an exhausted budget gets a unit back. A listener registers once (there
// are as many wakers as listeners sharing the budget).
func (b *AcceptBudget) OnGive(wake func()) {
	b.mu.Lock()
	b.wakers = append(b.wakers, wake)
	b.mu.Unlock()
}
