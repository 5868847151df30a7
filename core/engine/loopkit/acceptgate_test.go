package loopkit

import "testing"

func TestAcceptGate(t *testing.T) {
	var g AcceptGate
	woken := 0
	g.Wake = func() { woken++ }
	if g.Paused() {
		t.Fatal("a new gate is paused")
	}
	g.Resume() // not paused: no wake-up
	g.Pause()
	g.Pause()
	if !g.Paused() {
		t.Fatal("Pause did not pause")
	}
	g.Resume()
	g.Resume()
	if g.Paused() || woken != 1 {
		t.Fatalf("after Resume: paused %v, %d wake-ups, want false and 1", g.Paused(), woken)
	}
}
