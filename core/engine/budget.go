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
// An accept path that accepts without blocking (an event loop) reserves
// its unit first (TryTake) and returns it when the accept found nobody
// (Untake), so several such paths sharing a budget (SO_REUSEPORT sockets,
// several binds) never take more than it holds. A listener blocked in an
// accept (Take after the fact) when another takes the last unit may still
// hand over that one connection, so the count can go below zero by at
// most the number of blocking listeners sharing the budget, less one.
type AcceptBudget struct {
	mu     sync.Mutex
	n      int
	wakers []func()
	// starved: a TryTake found nothing left since the last wake-up, so an
	// accept path stopped watching its socket and must be woken once a
	// unit is back, by Give or by the Untake of a reservation it raced.
	starved bool
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

// TryTake is the engine's, before a non-blocking accept: it reserves one
// unit and reports whether there was one. false means stop accepting
// until woken (OnGive).
func (b *AcceptBudget) TryTake() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n <= 0 {
		b.starved = true
		return false
	}
	b.n--
	return true
}

// Untake is the engine's: the accept a TryTake reserved for found no
// connection. It wakes the listeners only if one stopped on that
// reservation, so an idle listening socket never makes them spin.
func (b *AcceptBudget) Untake() { b.give(1, false) }

// Give is the owner's: k connections accepted under the budget ended.
// When the budget was exhausted, every listener sharing it is woken.
func (b *AcceptBudget) Give(k int) { b.give(k, true) }

func (b *AcceptBudget) give(k int, refill bool) {
	b.mu.Lock()
	wake := b.n+k > 0 && (b.starved || refill && b.n <= 0)
	b.n += k
	if wake {
		b.starved = false
	}
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
