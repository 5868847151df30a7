package memengine

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// The FakeClock alone: callbacks in deadline order, FIFO for ties, Stop.
func TestFakeClockOrder(t *testing.T) {
	clk := NewFakeClock(time.Time{})
	if !clk.Now().Equal(FakeEpoch) {
		t.Fatalf("zero start gave %v", clk.Now())
	}
	var got []string
	add := func(s string) func() { return func() { got = append(got, s) } }
	clk.AfterFunc(2*time.Second, add("b"))
	clk.AfterFunc(time.Second, add("a1"))
	clk.AfterFunc(time.Second, add("a2"))
	stop := clk.AfterFunc(time.Second, add("stopped"))
	if !stop() || stop() {
		t.Fatal("stop should report true once")
	}
	clk.Advance(time.Second)
	if want := "a1 a2"; join(got) != want {
		t.Fatalf("after 1s: %q, want %q", join(got), want)
	}
	clk.Advance(time.Hour)
	if want := "a1 a2 b"; join(got) != want {
		t.Fatalf("after 1h: %q, want %q", join(got), want)
	}
	if d := clk.Now().Sub(FakeEpoch); d != time.Hour+time.Second {
		t.Fatalf("now at %v", d)
	}
	clk.Advance(-time.Second) // time never goes back
	if d := clk.Now().Sub(FakeEpoch); d != time.Hour+time.Second {
		t.Fatalf("negative Advance moved time to %v", d)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// The real clock runs engine timers without Advance.
func TestRealClockTimer(t *testing.T) {
	e := New(Options{})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	l, _ := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return &probe{log: &eventLog{}} })
	fired := make(chan time.Duration, 1)
	start := time.Now()
	c, _ := e.Dial(l.Addr().String(), &probe{log: &eventLog{}}, engine.DialOptions{})
	c.AfterFunc(20*time.Millisecond, func() { fired <- time.Since(start) })
	select {
	case d := <-fired:
		if d < 20*time.Millisecond {
			t.Fatalf("fired after %v, before its 20ms deadline", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("real-clock timer never fired")
	}
}
