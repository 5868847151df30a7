package memengine

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Timers fire in deadline order, FIFO for equal deadlines, at their own
// deadlines even when armed by another timer within the same Advance, and
// never after Stop (engine.Conn.AfterFunc, engine.Timer).
func TestTimerOrder(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	at := func(name string) func() {
		return func() { f.log.add("%s at %v", name, f.clk.Now().Sub(FakeEpoch)) }
	}
	c.AfterFunc(3*time.Second, at("c3"))
	c.AfterFunc(time.Second, at("a1"))
	c.AfterFunc(time.Second, at("b1")) // same deadline: after a1
	stopped := c.AfterFunc(2*time.Second, at("stopped"))
	c.AfterFunc(1500*time.Millisecond, func() {
		at("chain")()
		// Armed at 1.5 s for 2.25 s: fires before c3 within one Advance.
		c.AfterFunc(750*time.Millisecond, at("chained"))
	})
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.clk.Advance(999 * time.Millisecond)
	f.expect()
	f.clk.Advance(10 * time.Second)
	f.expect("a1 at 1s", "b1 at 1s", "chain at 1.5s", "chained at 2.25s", "c3 at 3s")
	if got := f.clk.Now().Sub(FakeEpoch); got != 10999*time.Millisecond {
		t.Fatalf("clock at %v after Advance", got)
	}
	if f.clk.Pending() != 0 {
		t.Fatalf("%d clock callbacks left armed", f.clk.Pending())
	}
}

// A zero or negative delay runs on the next loop turn, without Advance.
func TestTimerZeroDelay(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	c.AfterFunc(0, func() { f.log.add("zero") })
	c.AfterFunc(-time.Second, func() { f.log.add("negative") })
	f.e.Settle()
	f.expect("zero", "negative")
}

// Timers of a closed connection never fire, and AfterFunc after close
// returns a timer that is already done.
func TestTimerCancelledByClose(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	c.AfterFunc(time.Second, func() { f.log.add("fired") })
	_ = c.Close()
	f.e.Settle()
	f.expect("client close <nil>", "server eof")
	if c.AfterFunc(time.Second, func() { f.log.add("late") }).Stop() {
		t.Fatal("Stop of a timer made after close reported true")
	}
	f.clk.Advance(time.Minute)
	f.expect()
	if f.clk.Pending() != 0 {
		t.Fatalf("%d clock callbacks left armed", f.clk.Pending())
	}
}

// Stop on the loop, for a timer already due in the same turn, still wins.
func TestTimerStopWhenDue(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	var second engine.Timer
	c.AfterFunc(time.Second, func() {
		f.log.add("first")
		if !second.Stop() {
			f.log.add("stop failed")
		}
	})
	second = c.AfterFunc(time.Second, func() { f.log.add("second") })
	f.clk.Advance(time.Second)
	f.expect("first")
}
