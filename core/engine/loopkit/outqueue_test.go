package loopkit

import (
	"bytes"
	"errors"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

func newOutQueue(limit, high, low int) *OutQueue {
	q := new(OutQueue)
	q.Init(engine.Config{OutQueueLimit: limit, OutQueueHighWater: high, OutQueueLowWater: low})
	return q
}

// flushAll writes everything pending into w, n bytes at a time, and
// reports how many Consume calls said OnDrained was due.
func flushAll(q *OutQueue, w *bytes.Buffer, step int) (drains int) {
	var iov [][]byte
	for q.Len() > 0 {
		iov = q.Pending(iov[:0], 0)
		n := 0
		for _, b := range iov {
			k := min(len(b), step-n)
			w.Write(b[:k])
			n += k
			if n == step {
				break
			}
		}
		if q.Consume(n) {
			drains++
		}
	}
	return drains
}

func TestOutQueueOrderAndCoalescing(t *testing.T) {
	q := newOutQueue(1<<20, 1<<19, 1<<18)
	var want bytes.Buffer
	for i := 0; i < 100; i++ {
		b := bytes.Repeat([]byte{byte(i)}, i+1)
		q.AppendCopy(b)
		want.Write(b)
	}
	q.AppendOwned([][]byte{[]byte("owned-1"), nil, []byte("owned-2")})
	want.WriteString("owned-1owned-2")
	q.AppendCopy(make([]byte, 5000)) // larger than a small chunk
	want.Write(make([]byte, 5000))
	if q.Len() != want.Len() {
		t.Fatalf("Len %d, want %d", q.Len(), want.Len())
	}
	// 5050 copied bytes in 4 KiB chunks, 2 owned slices, one large chunk.
	if iov := q.Pending(nil, 0); len(iov) != 5 {
		t.Fatalf("%d iovecs, want 5 (coalesced)", len(iov))
	}
	if iov := q.Pending(nil, 2); len(iov) != 2 {
		t.Fatalf("Pending(max 2) gave %d", len(iov))
	}
	var got bytes.Buffer
	flushAll(q, &got, 777)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("bytes out differ from bytes in")
	}
	if q.Len() != 0 || len(q.segs) != 0 || q.head != 0 {
		t.Fatalf("not empty after flush: %d %d %d", q.Len(), len(q.segs), q.head)
	}
}

// TestOutQueueWater covers every watermark crossing and the rule that a
// refusal owes an OnDrained.
func TestOutQueueWater(t *testing.T) {
	const limit, high, low = 100, 60, 20
	tests := []struct {
		name       string
		queue      int  // bytes queued first
		write      int  // then a write of this size
		wantErr    bool // refused
		wantNow    bool // Admit: OnDrained due at once
		wantDrains int  // Consume reports during the flush
	}{
		{"below high: nothing owed", 50, 0, false, false, 0},
		{"above high: one OnDrained", 61, 0, false, false, 1},
		{"exactly high: nothing", 60, 0, false, false, 0},
		{"exactly limit admitted", 90, 10, false, false, 1},
		{"refused above low: owed on the fall", 30, 71, true, false, 1},
		{"refused at low: due now", 20, 81, true, true, 0},
		{"refused empty: due now", 0, 101, true, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newOutQueue(limit, high, low)
			if tc.queue > 0 {
				if _, err := q.Admit(tc.queue); err != nil {
					t.Fatal(err)
				}
				q.AppendCopy(make([]byte, tc.queue))
			}
			if tc.write > 0 {
				now, err := q.Admit(tc.write)
				if (err != nil) != tc.wantErr || now != tc.wantNow {
					t.Fatalf("Admit(%d) = %v, %v; want err %v, now %v", tc.write, now, err, tc.wantErr, tc.wantNow)
				}
				if err != nil && !errors.Is(err, engine.ErrOutQueueFull) {
					t.Fatalf("refusal error %v", err)
				}
				if err == nil {
					q.AppendCopy(make([]byte, tc.write))
				}
			}
			var sink bytes.Buffer
			if d := flushAll(q, &sink, 7); d != tc.wantDrains {
				t.Fatalf("%d OnDrained, want %d", d, tc.wantDrains)
			}
		})
	}
}

// DrainStillDue: a handler that queued more after OnDrained was posted
// gets it at the next fall instead.
func TestOutQueueDrainStillDue(t *testing.T) {
	q := newOutQueue(100, 60, 20)
	q.AppendCopy(make([]byte, 70))
	if !q.Consume(60) {
		t.Fatal("no OnDrained on the fall to low water")
	}
	q.AppendCopy(make([]byte, 30)) // 40 queued: above low again
	if q.DrainStillDue() {
		t.Fatal("stale OnDrained reported still due")
	}
	if !q.Consume(20) {
		t.Fatal("deferred OnDrained not reported at the next fall")
	}
	if !q.DrainStillDue() {
		t.Fatal("due OnDrained reported stale")
	}
}

func TestOutQueueFINAndDiscard(t *testing.T) {
	q := newOutQueue(100, 60, 20)
	q.AppendCopy([]byte("abc"))
	if err := q.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Admit(1); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Admit after CloseWrite: %v", err)
	}
	if !q.FINPending() || q.TakeFIN() {
		t.Fatal("FIN handed out before the queue emptied")
	}
	q.Consume(3)
	if !q.TakeFIN() || q.TakeFIN() || !q.FINSent() || q.FINPending() {
		t.Fatal("FIN not handed out exactly once")
	}
	q2 := newOutQueue(100, 60, 20)
	q2.AppendCopy([]byte("abc"))
	q2.Discard()
	if q2.Len() != 0 || q2.CloseWrite() == nil || q2.FINPending() {
		t.Fatal("Discard left state")
	}
	if _, err := q2.Admit(1); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Admit after Discard: %v", err)
	}
}

// Pending slices stay intact while more is appended (the flusher writes
// them with the lock dropped).
func TestOutQueuePendingStable(t *testing.T) {
	q := newOutQueue(1<<20, 1<<19, 1<<18)
	q.AppendCopy([]byte("hello "))
	iov := q.Pending(nil, 0)
	q.AppendCopy([]byte("world"))
	if string(iov[0]) != "hello " {
		t.Fatalf("pending slice changed: %q", iov[0])
	}
	q.Consume(len(iov[0]))
	if got := q.Pending(nil, 0); len(got) != 1 || string(got[0]) != "world" {
		t.Fatalf("after partial consume: %q", got)
	}
}

func TestOutQueueMemoryGivenBack(t *testing.T) {
	q := newOutQueue(1<<30, 1<<29, 1<<28)
	for i := 0; i < 1000; i++ {
		q.AppendOwned([][]byte{make([]byte, 10)})
	}
	q.Consume(q.Len())
	if q.segs != nil {
		t.Fatalf("segment array of cap %d kept after a burst", cap(q.segs))
	}
}

func BenchmarkOutQueueSmallWrites(b *testing.B) {
	q := newOutQueue(1<<22, 1<<20, 1<<18)
	msg := make([]byte, 64)
	var iov [][]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := q.Admit(len(msg)); err != nil {
			b.Fatal(err)
		}
		q.AppendCopy(msg)
		iov = q.Pending(iov[:0], 0)
		q.Consume(len(msg))
	}
}

func BenchmarkOutQueueBatch16(b *testing.B) {
	q := newOutQueue(1<<22, 1<<20, 1<<18)
	msg := make([]byte, 100)
	var iov [][]byte
	b.ReportAllocs()
	for b.Loop() {
		for range 16 {
			q.Admit(len(msg))
			q.AppendCopy(msg)
		}
		iov = q.Pending(iov[:0], 0)
		q.Consume(q.Len())
	}
}

// Queue is Admit plus the right append for Write (a copy) and Writev (the
// slices as given), all or nothing; Discard reports only the first call.
func TestOutQueueQueueAndDiscard(t *testing.T) {
	q := newOutQueue(10, 8, 2)
	src := []byte("abc")
	for _, tc := range []struct {
		name    string
		b       []byte
		bufs    [][]byte
		wantErr error
		wantLen int
	}{
		{"write copies", src, nil, nil, 3},
		{"writev queues as given", nil, [][]byte{[]byte("de"), nil, []byte("f")}, nil, 6},
		{"over the limit: nothing queued", []byte("ghijk"), nil, engine.ErrOutQueueFull, 6},
		{"empty write", nil, nil, nil, 6},
	} {
		_, err := q.Queue(tc.b, tc.bufs)
		if err != tc.wantErr || q.Len() != tc.wantLen {
			t.Errorf("%s: err %v len %d, want %v %d", tc.name, err, q.Len(), tc.wantErr, tc.wantLen)
		}
		if got := Size(tc.b, tc.bufs); got != len(tc.b)+len(bytes.Join(tc.bufs, nil)) {
			t.Errorf("%s: Size %d", tc.name, got)
		}
	}
	src[0] = 'X' // Write's bytes were copied
	var w bytes.Buffer
	flushAll(q, &w, 4)
	if w.String() != "abcdef" {
		t.Errorf("flushed %q, want abcdef", w.String())
	}
	if !q.Discard() || q.Discard() {
		t.Error("Discard: want true on the first call only")
	}
	if _, err := q.Queue(src, nil); err != engine.ErrClosed {
		t.Errorf("Queue after Discard: %v, want ErrClosed", err)
	}
}
