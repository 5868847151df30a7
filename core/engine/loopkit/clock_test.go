package loopkit

import (
	"math"
	"testing"
	"time"
)

func TestDeadlineSaturates(t *testing.T) {
	if got := Deadline(time.Duration(math.MaxInt64)); got != math.MaxInt64 {
		t.Fatalf("Deadline(max) = %d, want MaxInt64", got)
	}
	before := Now()
	if got := Deadline(time.Hour); got < before+int64(time.Hour) {
		t.Fatalf("Deadline(1h) = %d, before Now()+1h = %d", got, before+int64(time.Hour))
	}
	if a, b := Now(), Now(); b < a {
		t.Fatalf("Now went back: %d then %d", a, b)
	}
}

func TestAdvance(t *testing.T) {
	bufs := [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}
	rest := Advance(bufs, 3)
	if len(rest) != 2 || string(rest[0]) != "de" || string(rest[1]) != "f" {
		t.Fatalf("Advance(3) = %q", rest)
	}
	if rest := Advance(rest, 3); len(rest) != 0 {
		t.Fatalf("Advance(all) = %q, want nothing", rest)
	}
	if rest := Advance([][]byte{[]byte("x")}, 0); len(rest) != 1 || string(rest[0]) != "x" {
		t.Fatalf("Advance(0) = %q", rest)
	}
}

func TestPendingTimer(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	ran := 0
	fn := func() { ran++ }

	// Stopped before Start: Start schedules nothing, a second Stop is false.
	var a PendingTimer
	if !a.Stop() || a.Stop() {
		t.Fatal("Stop before Start: want true, then false")
	}
	a.Start(&ts, nil, 0, fn)
	if ts.Len() != 0 {
		t.Fatalf("stopped PendingTimer scheduled: Len %d", ts.Len())
	}

	// Started: Stop is the timer's own, exact.
	var b PendingTimer
	b.Start(&ts, nil, 0, fn)
	if ts.Len() != 1 || !b.Stop() || b.Stop() || ts.Len() != 0 {
		t.Fatalf("Stop after Start: Len %d", ts.Len())
	}

	// Started and due: it runs, and Stop then reports false.
	var c PendingTimer
	c.Start(&ts, nil, 0, fn)
	ts.RunDue(1, nil)
	if ran != 1 || c.Stop() {
		t.Fatalf("ran %d, want 1 and a false Stop", ran)
	}
}
