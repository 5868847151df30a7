package loopkit

import (
	"fmt"
	"math/rand/v2"
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

// Drop finds exactly its owner's timers, whatever happened to the others
// (stopped at the head, middle or tail of the owner's list, due, fired),
// and a due timer it dropped does not run.
func TestTimersDropOwnerLists(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	a, b := &owner{}, &owner{}
	ran := map[string]bool{}
	var as, bs []*Timer
	for i := 0; i < 5; i++ {
		as = append(as, ts.Add(a, int64(10+i), func() { ran[fmt.Sprint("a", i)] = true }))
		bs = append(bs, ts.Add(b, int64(10+i), func() { ran[fmt.Sprint("b", i)] = true }))
	}
	as[1].Stop() // next to the list's tail (a0, the oldest)
	as[2].Stop() // middle
	as[4].Stop() // head (newest)
	bs[4].Stop()
	if due := ts.PopDue(10); due == nil || due.owner != Owner(a) && due.owner != Owner(b) {
		t.Fatal("PopDue found nothing at 10")
	} else if due.owner == Owner(a) {
		ts.Drop(a) // a's due timer goes too
		if fn := due.Take(); fn != nil {
			t.Fatal("Take of a dropped due timer returned fn")
		}
	} else {
		t.Fatal("b's timer at 10 came before a's, created first")
	}
	if ts.Len() != 4 {
		t.Fatalf("Len %d after Drop(a), want b's 4", ts.Len())
	}
	ts.RunDue(100, nil)
	for i := 0; i < 4; i++ {
		if !ran[fmt.Sprint("b", i)] {
			t.Errorf("b%d did not run", i)
		}
	}
	for i := 0; i < 5; i++ {
		if ran[fmt.Sprint("a", i)] {
			t.Errorf("a%d ran after Drop", i)
		}
	}
	if ownerLists(&ts) != 0 {
		t.Fatalf("%d owner lists left with no timer pending", ownerLists(&ts))
	}
	// DropAll with an owned timer due: it is stopped, and the owner's new
	// timers are tracked afresh.
	ts.Add(a, 1, func() { ran["late"] = true })
	d := ts.PopDue(1)
	ts.DropAll()
	if d.Take() != nil {
		t.Fatal("Take after DropAll returned fn")
	}
	ts.Add(a, 2, func() {})
	ts.Drop(a)
	if ts.Len() != 0 || ownerLists(&ts) != 0 {
		t.Fatalf("Len %d, %d lists after Drop", ts.Len(), ownerLists(&ts))
	}
}

// A random mix of Add, Stop, Drop and RunDue agrees with a plain model:
// the same timers pend, and the same run.
func TestTimersOwnerModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ts Timers
	ts.Init(nil)
	owners := make([]*owner, 8)
	for i := range owners {
		owners[i] = &owner{}
	}
	type entry struct {
		tm    *Timer
		owner int
		at    int64
	}
	var live []entry // the model: pending timers
	ranIDs := map[int]bool{}
	now := int64(0)
	for step := 0; step < 20000; step++ {
		switch op := rng.IntN(10); {
		case op < 5:
			k, id := rng.IntN(len(owners)), step
			at := now + int64(rng.IntN(50))
			live = append(live, entry{ts.Add(owners[k], at, func() { ranIDs[id] = true }), k, at})
		case op < 7 && len(live) > 0:
			i := rng.IntN(len(live))
			if !live[i].tm.Stop() {
				t.Fatalf("step %d: Stop of a pending timer reported false", step)
			}
			live = slices.Delete(live, i, i+1)
		case op < 8:
			k := rng.IntN(len(owners))
			ts.Drop(owners[k])
			live = slices.DeleteFunc(live, func(e entry) bool { return e.owner == k })
		default:
			now += int64(rng.IntN(20))
			clear(ranIDs)
			n := ts.RunDue(now, nil)
			want := 0
			live = slices.DeleteFunc(live, func(e entry) bool {
				if e.at <= now {
					want++
					return true
				}
				return false
			})
			if n != want || len(ranIDs) != want {
				t.Fatalf("step %d: RunDue ran %d (%d fns), want %d", step, n, len(ranIDs), want)
			}
		}
		if ts.Len() != len(live) {
			t.Fatalf("step %d: Len %d, model %d", step, ts.Len(), len(live))
		}
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

// BenchmarkTimersDropManyOwners is connection churn: n connections, each
// with two long timeouts pending, and per operation one connection closes
// (Drop) and a new one arms its two timers. Drop must cost what the owner
// has, not what the heap holds.
func BenchmarkTimersDropManyOwners(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			var ts Timers
			ts.Init(func(int64) {})
			fn := func() {}
			owners := make([]owner, n)
			tms := make([][2]Timer, n)
			at := int64(1 << 40)
			arm := func(k int) {
				for j := range tms[k] {
					at++
					ts.Schedule(&tms[k][j], &owners[k], at, fn)
				}
			}
			for k := range owners {
				arm(k)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % n
				ts.Drop(&owners[k])
				arm(k)
			}
			if ts.Len() != 2*n {
				b.Fatalf("Len %d, want %d", ts.Len(), 2*n)
			}
		})
	}
}

// BenchmarkTimersScheduleStopOwned is BenchmarkTimersScheduleStop with an
// owner, as engines arm them (an idle timeout re-armed per message).
func BenchmarkTimersScheduleStopOwned(b *testing.B) {
	var ts Timers
	ts.Init(func(int64) {})
	fn := func() {}
	var bg [64]Timer
	var owners [64]owner
	for i := range bg {
		ts.Schedule(&bg[i], &owners[i], int64(1000+i), fn)
	}
	o := &owner{}
	var tm Timer
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.Schedule(&tm, o, int64(i%2000), fn)
		tm.Stop()
	}
}

// ownerLists counts the owner lists ts holds, inline and in its map.
func ownerLists(ts *Timers) int {
	n := len(ts.owned)
	for _, oh := range ts.few {
		if oh.owner != nil {
			n++
		}
	}
	return n
}

// Owners beyond the inline ones go to the map, and each owner's timers
// stay on one list wherever it is: Drop of any owner takes exactly its own.
func TestTimersFewAndMapOwners(t *testing.T) {
	var ts Timers
	ts.Init(nil)
	owners := make([]*owner, 5)
	for i := range owners {
		owners[i] = &owner{}
	}
	for round := 0; round < 3; round++ {
		for i, o := range owners {
			ts.Add(o, int64(i), func() {})
		}
	}
	if n := ownerLists(&ts); n != len(owners) {
		t.Fatalf("%d owner lists, want %d", n, len(owners))
	}
	// Free an inline slot, then add a map owner again: it must stay on
	// its map list, not start a second list inline.
	ts.Drop(owners[0])
	ts.Add(owners[4], 9, func() {})
	if n := ownerLists(&ts); n != len(owners)-1 {
		t.Fatalf("%d owner lists after Drop and re-Add, want %d", n, len(owners)-1)
	}
	for i, o := range owners[1:] {
		before := ts.Len()
		ts.Drop(o)
		want := 3
		if i == 3 {
			want = 4
		}
		if got := before - ts.Len(); got != want {
			t.Fatalf("Drop(owner %d) took %d timers, want %d", i+1, got, want)
		}
	}
	if ts.Len() != 0 || ownerLists(&ts) != 0 {
		t.Fatalf("Len %d, %d lists after dropping every owner", ts.Len(), ownerLists(&ts))
	}
}
