package loopkit

import "sync/atomic"

// AcceptGate is engine.Listener's Pause and Resume for an engine that
// accepts on its own loops (rawepoll, dpdk): embedded in the listener, it
// supplies both methods. Pause only raises a flag, which the accept path
// reads before every accept call (so Pause needs no trip to the loop and
// no lock); the engine's accept path, finding it raised, stops and drops
// its interest in the listening socket. Resume lowers the flag and calls
// Wake, which the engine sets to what makes its loop look at the socket
// again: the clients that arrived meanwhile raise no new event.
type AcceptGate struct {
	paused atomic.Bool
	// Wake, when set, runs on every Resume that lifts a Pause (from the
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

// Paused reports whether the accept path must not accept now.
func (g *AcceptGate) Paused() bool { return g.paused.Load() }
