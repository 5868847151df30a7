package sleep

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestUntilNeverWakesEarly(t *testing.T) {
	// The contract a pacer relies on: Until returns at or after its target,
	// never before (an early send would be charged a negative latency).
	// How late it wakes is a performance figure: BenchmarkUntilOversleep.
	done := make(chan struct{})
	go func() {
		defer close(done)
		LowTimerSlack()
		for i := 0; i < 100; i++ {
			target := time.Now().Add(200 * time.Microsecond)
			Until(target)
			if time.Now().Before(target) {
				t.Error("woke before the target")
			}
		}
	}()
	<-done
}

// BenchmarkUntilOversleep reports the median and p99 oversleep of 200 µs
// waits. A Go timer alone overslept ~0.9 ms at the median on these VMs;
// the nanosleep tail keeps it near 80 µs (~10 µs with LowTimerSlack).
func BenchmarkUntilOversleep(b *testing.B) {
	LowTimerSlack()
	var over []time.Duration
	for b.Loop() {
		target := time.Now().Add(200 * time.Microsecond)
		Until(target)
		over = append(over, time.Since(target))
	}
	slices.Sort(over)
	b.ReportMetric(float64(over[len(over)/2].Nanoseconds())/1e3, "p50-over-µs")
	b.ReportMetric(float64(over[len(over)*99/100].Nanoseconds())/1e3, "p99-over-µs")
}

func TestUntilLongWaitUsesBothStages(t *testing.T) {
	// Longer than coarseMargin: the runtime sleep, then the precise tail.
	// Never early; how late is a performance figure (the benchmark), and a
	// loaded CI machine delays a woken goroutine by tens of milliseconds,
	// so the upper bound only catches a wait gone wrong by orders of
	// magnitude (a wrong unit, a sleep of the whole wait twice over).
	target := time.Now().Add(coarseMargin + 3*time.Millisecond)
	Until(target)
	if late := time.Since(target); late < 0 || late > time.Second {
		t.Fatalf("woke %v after the target", late)
	}
}

func TestUntilPastReturnsAtOnce(t *testing.T) {
	// A past instant must not sleep at all. Counting the stages that ran
	// says so exactly; a wall-clock bound would flake on a loaded machine.
	var slept []time.Duration
	defer func(c, p func(time.Duration)) { coarseSleep, preciseSleep = c, p }(coarseSleep, preciseSleep)
	coarseSleep = func(d time.Duration) { slept = append(slept, d) }
	preciseSleep = func(d time.Duration) { slept = append(slept, d) }
	for _, done := range []chan struct{}{nil, make(chan struct{})} {
		if !UntilOrDone(time.Now().Add(-time.Second), done) {
			t.Fatal("a past instant reported done")
		}
	}
	if len(slept) != 0 {
		t.Fatalf("slept %v for a past instant", slept)
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

// TestPacerP: the pacer gets one P on top of what the process has, once.
func TestPacerP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	pacerP = sync.Once{} // as in a fresh process (go test -count=N runs this again)
	n := runtime.GOMAXPROCS(0)
	PacerP()
	if got := runtime.GOMAXPROCS(0); got != n+1 {
		t.Fatalf("GOMAXPROCS after PacerP = %d, want %d", got, n+1)
	}
	PacerP()
	if got := runtime.GOMAXPROCS(0); got != n+1 {
		t.Fatalf("GOMAXPROCS after a second PacerP = %d, want %d (once per process)", got, n+1)
	}
}
