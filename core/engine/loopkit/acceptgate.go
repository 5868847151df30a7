package loopkit

import (
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
)

// AcceptGate is engine.Listener's Pause, Resume and SetBudget for an
// engine that accepts on its own loops (rawepoll, dpdk): embedded in the
// listener, it supplies the three methods. The accept path asks Paused
// before every accept call (Pause only raises a flag, so it needs no trip
// to the loop and no lock) and, finding it true, stops and drops its
// interest in the listening socket; it calls Took for every connection it
// hands over. Resume, or a Give that refills an exhausted budget, calls
// Wake, which the engine sets to what makes its loop look at the socket
// again: the clients that arrived meanwhile raise no new event.
type AcceptGate struct {
	paused atomic.Bool
	budget atomic.Pointer[engine.AcceptBudget]
	// Wake, when set, runs when accepting may start again (from the
	// caller's goroutine, so it posts to the loop rather than accept).
	Wake func()
}

// Pause stops accepting before the next accept call.
func (g *AcceptGate) Pause() { g.paused.Store(true) }

// Resume lifts a Pause and wakes the accept path.
func (g *AcceptGate) Resume() {
	if g.paused.Swap(false) && g.Wake != nil {
		g.Wake()
	}
}

// SetBudget puts the listener under b (engine.Listener.SetBudget).
func (g *AcceptGate) SetBudget(b *engine.AcceptBudget) {
	g.budget.Store(b)
	if b != nil {
		b.OnGive(func() {
			if !g.paused.Load() && g.Wake != nil {
				g.Wake()
			}
		})
	}
}

// Paused reports whether the accept path must not accept now: Pause
// holds it, or its budget has nothing left.
func (g *AcceptGate) Paused() bool {
	if g.paused.Load() {
		return true
	}
	b := g.budget.Load()
	return b != nil && b.Left() <= 0
}

// TryTake is Paused and Took in one step for an accept path that does not
// block (an event loop), exact when several paths share one budget (an
// SO_REUSEPORT socket per loop): false means stop and drop interest, as
// for Paused; true reserves a unit, which the path keeps for the
// connection it accepts or gives back with Untake when it found none.
func (g *AcceptGate) TryTake() bool {
	if g.paused.Load() {
		return false
	}
	b := g.budget.Load()
	return b == nil || b.TryTake()
}

// Untake gives back the unit TryTake reserved when the accept found no
// connection (EAGAIN, an error, a connection that failed on its way in).
func (g *AcceptGate) Untake() {
	if b := g.budget.Load(); b != nil {
		b.Untake()
	}
}

// Took records a connection handed over, in the budget.
func (g *AcceptGate) Took() {
	if b := g.budget.Load(); b != nil {
		b.Take()
	}
}
