package loadgen

import (
	"context"
	"testing"
	"time"
)

// fakeClock advances only when the pacer sleeps or a round trip "takes"
// time, so the test controls every instant.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }
func (c *fakeClock) SleepUntil(t time.Time) {
	if t.After(c.t) {
		c.t = t
	}
}

func runFake(t *testing.T, interval time.Duration, service []time.Duration) []time.Duration {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var got []time.Duration
	i := 0
	p := &Pacer{Clock: clk, Interval: interval, Until: clk.t.Add(time.Hour),
		Record: func(d time.Duration) { got = append(got, d) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := p.Run(ctx, func() error {
		clk.t = clk.t.Add(service[i])
		i++
		if i == len(service) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOpenLoopChargesStallToQueuedRequests(t *testing.T) {
	ms := time.Millisecond
	// 1 request per ms; the second takes 5 ms (a stall).
	got := runFake(t, ms, []time.Duration{
		100 * time.Microsecond, 5 * ms, 100 * time.Microsecond, 100 * time.Microsecond,
		100 * time.Microsecond, 100 * time.Microsecond, 100 * time.Microsecond, 100 * time.Microsecond,
	})
	// Request 1 intended at 1 ms, done at 6 ms. Request 2 intended at 2 ms
	// leaves at 6 ms and ends at 6.1: 4.1 ms. Then 3.2, 2.3, 1.4, 0.5 and the
	// schedule is caught up: 0.1.
	us := time.Microsecond
	want := []time.Duration{100 * us, 5 * ms, 4100 * us, 3200 * us, 2300 * us, 1400 * us, 500 * us, 100 * us}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: latency %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}

func TestClosedLoopHidesTheStall(t *testing.T) {
	// The same service times closed-loop: only the stalled request sees it,
	// which is exactly the coordinated omission the open loop corrects.
	got := runFake(t, 0, []time.Duration{time.Millisecond, 5 * time.Millisecond, time.Millisecond})
	want := []time.Duration{time.Millisecond, 5 * time.Millisecond, time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("closed loop %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestPacerStopsAtUntil(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := &Pacer{Clock: clk, Interval: time.Millisecond, Until: clk.t.Add(10 * time.Millisecond),
		Record: func(time.Duration) {}}
	n, err := p.Run(context.Background(), func() error { clk.t = clk.t.Add(10 * time.Microsecond); return nil })
	if err != nil || n != 10 {
		t.Fatalf("n=%d err=%v, want 10 requests in 10 ms at 1 kHz", n, err)
	}
}

// TestPacerRunsOnceAfterUntil: a pacer that starts after its Until (a
// loop that waited out the whole window for the CPU) still measures one
// request (MinOneSample), open and closed loop alike.
func TestPacerRunsOnceAfterUntil(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond} {
		clk := &fakeClock{t: time.Unix(0, 0)}
		p := &Pacer{Clock: clk, Interval: interval, Until: clk.t.Add(-time.Millisecond), Record: func(time.Duration) {}}
		n, err := p.Run(context.Background(), func() error { clk.t = clk.t.Add(10 * time.Microsecond); return nil })
		if err != nil || n != 1 {
			t.Errorf("interval %v: n=%d err=%v, want the one request", interval, n, err)
		}
	}
}

func TestScheduleIntended(t *testing.T) {
	s := Schedule{Start: time.Unix(5, 0), Interval: 250 * time.Microsecond}
	if got := s.Intended(4); !got.Equal(time.Unix(5, int64(time.Millisecond))) {
		t.Fatalf("Intended(4) = %v", got)
	}
}

func TestRealClockNeverWakesEarly(t *testing.T) {
	// RealClock sleeps through core/sleep; how late it wakes is a
	// performance figure (core/sleep's BenchmarkUntilOversleep). The
	// contract the schedule relies on is that it never wakes early.
	var c RealClock
	for i := 0; i < 100; i++ {
		target := time.Now().Add(200 * time.Microsecond)
		c.SleepUntil(target)
		if time.Now().Before(target) {
			t.Fatal("woke before the target")
		}
	}
}
