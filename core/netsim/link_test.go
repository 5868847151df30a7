package netsim

import (
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fr(i int) []byte { return []byte{byte(i), byte(i >> 8), byte(i >> 16)} }
func id(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// drain pops every frame due by now, in order.
func drain(l *Link, now time.Time) []int {
	var out []int
	for {
		b, ok := l.Pop(now)
		if !ok {
			return out
		}
		out = append(out, id(b))
	}
}

func TestProfiles(t *testing.T) {
	want := map[string]Profile{
		"lan":   {Name: "lan", Direct: true},
		"dc":    {Name: "dc", Delay: 100 * time.Microsecond},
		"wan":   {Name: "wan", Delay: 10 * time.Millisecond, Jitter: time.Millisecond, Rate: 1e9},
		"lossy": {Name: "lossy", Delay: time.Millisecond, Loss: 0.005, Reorder: 0.001},
		"bad":   {Name: "bad", Delay: 20 * time.Millisecond, Loss: 0.02, Duplicate: 0.01},
	}
	if got := ProfileNames(); !slices.Equal(got, []string{"bad", "dc", "lan", "lossy", "wan"}) {
		t.Errorf("names %v", got)
	}
	for n, w := range want {
		p, err := ParseProfile(n)
		if err != nil || p != w {
			t.Errorf("%s: %+v, %v", n, p, err)
		}
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseProfile("netem"); err == nil {
		t.Error("unknown profile accepted")
	}
	ps, err := ParseProfiles("lan, lossy")
	if err != nil || len(ps) != 2 || ps[1].Name != "lossy" {
		t.Errorf("list: %v, %v", ps, err)
	}
	for _, bad := range []Profile{{Jitter: 2, Delay: 1}, {Loss: 1.5}, {Rate: -1}, {Delay: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestDelayOrder: every frame leaves exactly Delay after it arrived, in
// arrival order, and not a nanosecond earlier.
func TestDelayOrder(t *testing.T) {
	l := NewLink(Profile{Delay: 100 * time.Microsecond}, 1)
	for i := range 10 {
		l.Arrive(t0.Add(time.Duration(i)*10*time.Microsecond), fr(i))
	}
	if got := drain(l, t0.Add(99*time.Microsecond)); len(got) != 0 {
		t.Fatalf("frames left before their delay: %v", got)
	}
	if got := drain(l, t0.Add(130*time.Microsecond)); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("at 130 µs: %v", got)
	}
	if due, _ := l.Next(); !due.Equal(t0.Add(140 * time.Microsecond)) {
		t.Fatalf("next due %v", due.Sub(t0))
	}
	if got := drain(l, t0.Add(time.Second)); !slices.Equal(got, []int{4, 5, 6, 7, 8, 9}) {
		t.Fatalf("rest: %v", got)
	}
	if c := l.Counters(); c != (Counters{Forwarded: 10}) {
		t.Errorf("counters %+v", c)
	}
}

// TestJitterKeepsOrder: jitter spreads delays within ±Jitter but never
// lets a frame overtake the one ahead of it.
func TestJitterKeepsOrder(t *testing.T) {
	p := Profile{Delay: 10 * time.Millisecond, Jitter: time.Millisecond}
	l := NewLink(p, 7)
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * 50 * time.Microsecond)
		l.Arrive(at, fr(i))
	}
	prev := -1
	var minD, maxD time.Duration = time.Hour, 0
	for now := t0; l.Len() > 0; now = now.Add(10 * time.Microsecond) {
		for _, i := range drain(l, now) {
			if i != prev+1 {
				t.Fatalf("frame %d after %d", i, prev)
			}
			prev = i
			d := now.Sub(t0.Add(time.Duration(i) * 50 * time.Microsecond))
			minD, maxD = min(minD, d), max(maxD, d)
		}
	}
	if minD < 9*time.Millisecond || maxD > 11*time.Millisecond+10*time.Microsecond || maxD-minD < time.Millisecond {
		t.Errorf("delays %v..%v, want spread within 9..11 ms", minD, maxD)
	}
	if prev != 999 {
		t.Errorf("last frame %d", prev)
	}
}

// binomialOK: k successes of n at probability p within 5 standard
// deviations (with a fixed seed the test is deterministic; the bound says
// the generator is not biased, not that this seed is lucky).
func binomialOK(k, n int, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-float64(n)*p) <= 5*sd
}

// TestLossDuplicateRates: lossy's and bad's probabilities over 100,000
// frames.
func TestLossDuplicateRates(t *testing.T) {
	const n = 100_000
	for _, name := range []string{"lossy", "bad"} {
		p, _ := ParseProfile(name)
		p.Delay = 0 // frames leave at once: the queue stays short
		l := NewLink(p, 42)
		for i := range n {
			l.Arrive(t0, fr(i))
			drain(l, t0)
		}
		c := l.Counters()
		if !binomialOK(int(c.Lost), n, p.Loss) {
			t.Errorf("%s: lost %d of %d, want about %.0f", name, c.Lost, n, p.Loss*n)
		}
		if !binomialOK(int(c.Duplicated), n, p.Duplicate*(1-p.Loss)) {
			t.Errorf("%s: duplicated %d of %d, want about %.0f", name, c.Duplicated, n, p.Duplicate*n)
		}
		if int(c.Forwarded) != n-int(c.Lost)+int(c.Duplicated) {
			t.Errorf("%s: counters %+v", name, c)
		}
	}
}

// TestReorder: a reordered frame skips the delay and overtakes the frames
// in flight; Reordered counts only frames that did overtake one.
func TestReorder(t *testing.T) {
	l := NewLink(Profile{Delay: time.Millisecond, Reorder: 1}, 1)
	l.Arrive(t0, fr(0)) // nothing in flight: not counted
	if c := l.Counters(); c.Reordered != 0 {
		t.Fatalf("a lone frame counted as reordered")
	}
	l = NewLink(Profile{Delay: time.Millisecond, Reorder: 0.1, Limit: 1 << 20}, 3)
	for i := range 10_000 {
		l.Arrive(t0.Add(time.Duration(i)*time.Microsecond), fr(i))
	}
	c := l.Counters()
	if !binomialOK(int(c.Reordered), 10_000, 0.1) {
		t.Fatalf("reordered %d of 10000", c.Reordered)
	}
	got := drain(l, t0.Add(time.Hour))
	out := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			out++
		}
	}
	if out == 0 || len(got) != 10_000 {
		t.Errorf("%d frames, %d out of order", len(got), out)
	}
}

// TestQueueLimit: a full queue drops the arriving frame (drop-tail), a
// duplicate included, and takes frames again once one has left.
func TestQueueLimit(t *testing.T) {
	l := NewLink(Profile{Delay: time.Millisecond, Limit: 3}, 1)
	for i := range 5 {
		if kept := l.Arrive(t0, fr(i)); kept != (i < 3) {
			t.Fatalf("frame %d kept=%v", i, kept)
		}
	}
	if c := l.Counters(); c.QueueDrops != 2 || l.Len() != 3 {
		t.Fatalf("counters %+v, len %d", c, l.Len())
	}
	if got := drain(l, t0.Add(time.Millisecond)); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("kept %v, want the head", got)
	}
	if !l.Arrive(t0.Add(time.Millisecond), fr(5)) {
		t.Fatal("dropped after the queue drained")
	}
	d := NewLink(Profile{Delay: time.Millisecond, Limit: 1, Duplicate: 1}, 1)
	d.Arrive(t0, fr(0))
	if c := d.Counters(); c.Duplicated != 0 || c.QueueDrops != 1 || d.Len() != 1 {
		t.Fatalf("duplicate into a full queue: %+v", c)
	}
}

// TestTokenBucket: at 1 Gbit/s a 1250-byte frame costs 10 µs; the first
// Burst bytes (two frames) leave at once, then one frame per 10 µs, and an idle link
// refills the bucket but not beyond Burst.
func TestTokenBucket(t *testing.T) {
	l := NewLink(Profile{Rate: 1e9, Burst: 2500, Limit: 100}, 1)
	frame := make([]byte, 1250)
	for range 10 {
		l.Arrive(t0, frame)
	}
	var leave []time.Duration
	for now := t0; l.Len() > 0; now = now.Add(time.Microsecond) {
		for _, ok := l.Pop(now); ok; _, ok = l.Pop(now) {
			leave = append(leave, now.Sub(t0))
		}
	}
	want := []time.Duration{0, 0}
	for i := 2; i < 10; i++ {
		want = append(want, time.Duration(i-1)*10*time.Microsecond)
	}
	if !slices.Equal(leave, want) {
		t.Fatalf("left at %v, want %v", leave, want)
	}
	// Idle for a second: the bucket holds Burst again, not a second's worth.
	later := t0.Add(time.Second)
	for range 5 {
		l.Arrive(later, frame)
	}
	n := 0
	for _, ok := l.Pop(later); ok; _, ok = l.Pop(later) {
		n++
	}
	if n != 2 {
		t.Errorf("%d frames at once after idling, want 2 (a burst of 2500 bytes)", n)
	}
	// Over a long run the rate holds: 100 frames of 1250 bytes take 1 ms.
	l = NewLink(Profile{Rate: 1e9, Burst: 1250, Limit: 1000}, 1)
	for range 100 {
		l.Arrive(t0, frame)
	}
	var last time.Time
	for l.Len() > 0 {
		last, _ = l.Next()
		l.Pop(last)
	}
	if got := last.Sub(t0); got != 990*time.Microsecond {
		t.Errorf("100 frames done at %v, want 990 µs", got)
	}
}

// TestSeedReplays: the same seed gives the same fates; another seed does
// not.
func TestSeedReplays(t *testing.T) {
	p, _ := ParseProfile("bad")
	p.Limit = 1 << 20
	run := func(seed uint64) []int {
		l := NewLink(p, seed)
		for i := range 5000 {
			l.Arrive(t0.Add(time.Duration(i)*time.Microsecond), fr(i))
		}
		return drain(l, t0.Add(time.Hour))
	}
	a, b, c := run(9), run(9), run(10)
	if !slices.Equal(a, b) {
		t.Error("same seed, different fates")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same fates")
	}
}
