package sleep

import (
	"slices"
	"testing"
	"time"
)

func TestUntilOversleepIsSmall(t *testing.T) {
	// Median oversleep of 100 waits of 200 µs. A Go timer alone overslept
	// ~0.9 ms on these VMs; the nanosleep tail keeps it near 80 µs (less
	// with LowTimerSlack). 500 µs leaves room for a loaded machine and
	// still catches millisecond rounding.
	done := make(chan time.Duration)
	go func() {
		LowTimerSlack()
		var over []time.Duration
		for i := 0; i < 100; i++ {
			target := time.Now().Add(200 * time.Microsecond)
			Until(target)
			now := time.Now()
			if now.Before(target) {
				t.Error("woke before the target")
			}
			over = append(over, now.Sub(target))
		}
		slices.Sort(over)
		done <- over[len(over)/2]
	}()
	if med := <-done; med > 500*time.Microsecond {
		t.Fatalf("median oversleep %v", med)
	}
}

func TestUntilLongWaitUsesBothStages(t *testing.T) {
	// Longer than coarseMargin: the runtime sleep, then the precise tail.
	target := time.Now().Add(coarseMargin + 3*time.Millisecond)
	Until(target)
	if late := time.Since(target); late < 0 || late > 50*time.Millisecond {
		t.Fatalf("woke %v after the target", late)
	}
}

func TestUntilPastReturnsAtOnce(t *testing.T) {
	t0 := time.Now()
	if !UntilOrDone(t0.Add(-time.Second), nil) {
		t.Fatal("a past instant reported done")
	}
	if d := time.Since(t0); d > 10*time.Millisecond {
		t.Fatalf("took %v for a past instant", d)
	}
}

func TestUntilOrDoneStopsOnDone(t *testing.T) {
	done := make(chan struct{})
	res := make(chan bool)
	t0 := time.Now()
	go func() { res <- UntilOrDone(t0.Add(time.Minute), done) }()
	close(done)
	select {
	case ok := <-res:
		if ok {
			t.Fatal("reported reaching an instant a minute away")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting 10 s after done closed")
	}
}

func TestUntilOrDoneClosedBeforeTail(t *testing.T) {
	// Done already closed and the wait shorter than coarseMargin: no
	// precise sleep at all.
	done := make(chan struct{})
	close(done)
	if UntilOrDone(time.Now().Add(time.Millisecond), done) {
		t.Fatal("slept through a closed done")
	}
}
