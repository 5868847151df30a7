package loopkit

import (
	"slices"
	"sync"
	"testing"
)

type owner struct{ closed bool }

func (o *owner) Closed() bool { return o.closed }

func TestTimersOrder(t *testing.T) {
	tests := []struct {
		name string
		at   []int64 // deadlines in creation order
		want []int   // creation indexes in run order
	}{
		{"ascending", []int64{1, 2, 3}, []int{0, 1, 2}},
		{"descending", []int64{3, 2, 1}, []int{2, 1, 0}},
		{"ties in creation order", []int64{5, 5, 5, 5}, []int{0, 1, 2, 3}},
		{"mixed ties", []int64{2, 1, 2, 1, 0}, []int{4, 1, 3, 0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ts Timers
			ts.Init(nil)
			var got []int
			for i, at := range tc.at {
				ts.Add(nil, at, func() { got = append(got, i) })
			}
			if n := ts.RunDue(100, nil); n != len(tc.at) {
				t.Fatalf("RunDue ran %d, want %d", n, len(tc.at))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTimersStopExact(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	ran := 0
	a := ts.Add(nil, 10, func() { ran++ })
	b := ts.Add(nil, 20, func() { ran++ })
	if !a.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if a.Stop() {
		t.Fatal("second Stop reported true")
	}
	if ts.Len() != 1 {
		t.Fatalf("stopped timer stayed in the heap: Len %d", ts.Len())
	}
	ts.RunDue(100, nil)
	if ran != 1 {
		t.Fatalf("ran %d, want 1", ran)
	}
	if b.Stop() {
		t.Fatal("Stop after the timer ran reported true")
	}
	// A due (popped) timer can still be stopped until Take.
	c := ts.Add(nil, 30, func() { ran++ })
	if p := ts.PopDue(30); p != c {
		t.Fatalf("PopDue = %p, want %p", p, c)
	}
	if !c.Stop() {
		t.Fatal("Stop of a due timer reported false")
	}
	if fn := c.Take(); fn != nil {
		t.Fatal("Take of a stopped timer returned fn")
	}
	d := ts.Add(nil, 40, func() { ran++ })
	ts.PopDue(40)
	fn := d.Take()
	if fn == nil || d.Stop() {
		t.Fatal("Take then Stop: want fn and false")
	}
}

// TestTimersStopRace: from another goroutine, Stop and the loop's RunDue
// agree: fn ran exactly when Stop reported false.
func TestTimersStopRace(t *testing.T) {
	for i := 0; i < 500; i++ {
		var ts Timers
		ts.Init(nil)
		var ran bool
		tm := ts.Add(nil, 0, func() { ran = true })
		var stopped bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); stopped = tm.Stop() }()
		ts.RunDue(0, nil)
		wg.Wait()
		if stopped == ran {
			t.Fatalf("Stop=%v but ran=%v", stopped, ran)
		}
	}
}

func TestTimersOwner(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	a, b := &owner{}, &owner{}
	ran := map[string]int{}
	ts.Add(a, 1, func() { ran["a1"]++ })
	ts.Add(a, 2, func() { ran["a2"]++ })
	ts.Add(b, 3, func() { ran["b"]++ })
	ts.Add(b, 4, func() { ran["b-closed"]++ })
	ts.Drop(a)
	if ts.Len() != 2 {
		t.Fatalf("Len after Drop = %d, want 2", ts.Len())
	}
	ts.RunDue(3, nil)
	b.closed = true
	ts.RunDue(10, nil)
	if ran["a1"]+ran["a2"] != 0 || ran["b"] != 1 || ran["b-closed"] != 0 {
		t.Fatalf("ran %v", ran)
	}
	if tm := ts.Add(b, 1, func() { ran["late"]++ }); tm.Stop() || ts.Len() != 0 {
		t.Fatal("timer of a closed owner was scheduled")
	}
}

func TestTimersArmAndNext(t *testing.T) {
	var ts Timers
	var armed []int64
	ts.Init(func(at int64) { armed = append(armed, at) })
	if _, ok := ts.Next(); ok {
		t.Fatal("Next on empty heap reported a deadline")
	}
	ts.Add(nil, 50, func() {})
	ts.Add(nil, 70, func() {}) // later: no re-arm
	ts.Add(nil, 30, func() {}) // earlier: re-arm
	ts.Add(nil, 30, func() {}) // tie: not earlier
	if !slices.Equal(armed, []int64{50, 30}) {
		t.Fatalf("armed %v, want [50 30]", armed)
	}
	if at, ok := ts.Next(); !ok || at != 30 {
		t.Fatalf("Next = %d %v, want 30", at, ok)
	}
}

// A zero-delay timer that re-arms itself runs once per RunDue, so the
// loop gets back to I/O.
func TestTimersRunDueNoStarvation(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	runs := 0
	var again func()
	again = func() { runs++; ts.Add(nil, 0, again) }
	ts.Add(nil, 0, again)
	for i := 1; i <= 3; i++ {
		if n := ts.RunDue(0, nil); n != 1 || runs != i {
			t.Fatalf("RunDue #%d ran %d (total %d), want 1", i, n, runs)
		}
	}
}

func TestTimersCloseAndMemory(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	var tms []*Timer
	for i := 0; i < 10000; i++ {
		tms = append(tms, ts.Add(nil, int64(i), func() {}))
	}
	for _, tm := range tms {
		tm.Stop()
	}
	if ts.Len() != 0 || cap(ts.h) != 0 {
		t.Fatalf("after stopping all: Len %d cap %d, want 0 0", ts.Len(), cap(ts.h))
	}
	ts.Add(nil, 1, func() {})
	ts.Close()
	if ts.Len() != 0 {
		t.Fatal("Close left timers")
	}
	if tm := ts.Add(nil, 1, func() { t.Error("ran after Close") }); tm.Stop() {
		t.Fatal("Add after Close returned a pending timer")
	}
	ts.RunDue(10, nil)
}

func TestTimersScheduleReuse(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	var tm Timer
	n := 0
	for i := 0; i < 3; i++ {
		ts.Schedule(&tm, nil, int64(i), func() { n++ })
		ts.RunDue(int64(i), nil)
	}
	ts.Schedule(&tm, nil, 5, func() { n++ })
	if !tm.Stop() || n != 3 {
		t.Fatalf("n %d, want 3 and a stoppable timer", n)
	}
}

func BenchmarkTimersScheduleStop(b *testing.B) {
	var ts Timers
	ts.Init(func(int64) {})
	fn := func() {}
	var bg [64]Timer
	for i := range bg {
		ts.Schedule(&bg[i], nil, int64(1000+i), fn)
	}
	var tm Timer
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.Schedule(&tm, nil, int64(i%2000), fn)
		tm.Stop()
	}
}

func BenchmarkTimersScheduleRunDue(b *testing.B) {
	var ts Timers
	ts.Init(func(int64) {})
	fn := func() {}
	var bg [64]Timer
	for i := range bg {
		ts.Schedule(&bg[i], nil, int64(1<<40+i), fn)
	}
	var tm Timer
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.Schedule(&tm, nil, int64(i), fn)
		ts.RunDue(int64(i), nil)
	}
}

func BenchmarkTimersAddStop(b *testing.B) {
	var ts Timers
	ts.Init(func(int64) {})
	fn := func() {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.Add(nil, int64(i), fn).Stop()
	}
}
