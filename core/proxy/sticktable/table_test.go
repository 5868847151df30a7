package sticktable

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/memengine"
)

func mustStores(t testing.TB, spec map[Data]time.Duration) Stores {
	t.Helper()
	var s Stores
	for d, p := range spec {
		if _, err := s.Add(d, p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func newTable(t testing.TB, size int, expire time.Duration, stores map[Data]time.Duration) (*Table, *memengine.FakeClock) {
	t.Helper()
	clk := memengine.NewFakeClock(time.Time{})
	tb, err := New(Config{Name: "fe", Type: TypeIP, Size: size, Expire: expire, Stores: mustStores(t, stores)}, clk)
	if err != nil {
		t.Fatal(err)
	}
	return tb, clk
}

func ipKey(t testing.TB, tb *Table, s string) Key {
	t.Helper()
	k, err := tb.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// nthKey is the key of the n-th source address 10.x.y.z.
func nthKey(tb *Table, n int) Key {
	k, _ := tb.KeyAddr(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}))
	return k
}

func TestStoresAdd(t *testing.T) {
	var s Stores
	for _, c := range []struct {
		d     Data
		p     time.Duration
		added bool
		err   bool
	}{
		{ConnCur, 0, true, false},
		{ConnCur, 0, false, false}, // already stored
		{ConnRate, 10 * time.Second, true, false},
		{SessRate, 0, false, true},       // a rate needs a period
		{GPC0, time.Second, false, true}, // a counter takes none
		{BytesInRate, MaxPeriod + 1, false, true},
	} {
		added, err := s.Add(c.d, c.p)
		if added != c.added || (err != nil) != c.err {
			t.Errorf("Add(%v, %v) = %v, %v; want %v, err %v", c.d, c.p, added, err, c.added, c.err)
		}
	}
	if got := s.String(); got != "conn_rate(10000ms),conn_cur" {
		t.Errorf("stores %q", got)
	}
	for _, c := range []struct {
		name      string
		ok, known bool
	}{{"conn_rate", true, true}, {"gpc", false, true}, {"server_key", true, true}, {"server_name", false, true}, {"frob", false, false}} {
		if _, ok, known := LookupData(c.name); ok != c.ok || known != c.known {
			t.Errorf("LookupData(%q) = %v %v", c.name, ok, known)
		}
	}
}

// The acceptance case of issue 16: a table of size 1000 fed 100,000
// sources stays at 1,000 entries, the rest evicted and counted.
func TestSizeBoundsEntries(t *testing.T) {
	tb, _ := newTable(t, 1000, 30*time.Second, map[Data]time.Duration{ConnRate: 10 * time.Second, ConnCur: 0})
	for i := 0; i < 100000; i++ {
		e := tb.Track(nthKey(tb, i))
		if e == nil {
			t.Fatalf("source %d not tracked", i)
		}
		tb.Untrack(e)
		if n := tb.Len(); n > 1000 {
			t.Fatalf("after %d sources: %d entries", i+1, n)
		}
	}
	st := tb.Stats()
	if st.Used != 1000 || st.Evicted != 99000 || st.Refused != 0 {
		t.Fatalf("stats %+v, want 1000 used, 99000 evicted", st)
	}
	// The survivors are the last 1000 sources.
	if _, found, _ := tb.Read(nthKey(tb, 98999), ConnCur); found {
		t.Error("source 98999 survived eviction")
	}
	if _, found, _ := tb.Read(nthKey(tb, 99000), ConnCur); !found {
		t.Error("source 99000 was evicted")
	}
}

// Eviction takes the least recently used entry no session holds; with
// every entry held a new key is refused; nopurge refuses instead of
// evicting.
func TestEvictionLRUAndHeld(t *testing.T) {
	tb, _ := newTable(t, 3, 0, map[Data]time.Duration{ConnCnt: 0})
	a, b, c, d := ipKey(t, tb, "10.0.0.1"), ipKey(t, tb, "10.0.0.2"), ipKey(t, tb, "10.0.0.3"), ipKey(t, tb, "10.0.0.4")
	for _, k := range []Key{a, b, c} {
		tb.Untrack(tb.Track(k))
	}
	tb.Untrack(tb.Track(a)) // a is now the most recent
	tb.Untrack(tb.Track(d)) // evicts b
	if _, found, _ := tb.Read(b, ConnCnt); found {
		t.Fatal("b should have been evicted (least recently used)")
	}
	if v, found, _ := tb.Read(a, ConnCnt); !found || v != 2 {
		t.Fatalf("a: found %v conn_cnt %d", found, v)
	}
	// Hold all three: a fourth key has no room.
	ha, hc, hd := tb.Track(a), tb.Track(c), tb.Track(d)
	if e := tb.Track(b); e != nil {
		t.Fatal("a full table of held entries took a new key")
	}
	if st := tb.Stats(); st.Refused != 1 || st.Evicted != 1 {
		t.Fatalf("stats %+v", st)
	}
	tb.Untrack(hc) // c becomes the only candidate
	if e := tb.Track(b); e == nil {
		t.Fatal("no room after a release")
	} else {
		tb.Untrack(e)
	}
	if _, found, _ := tb.Read(c, ConnCnt); found {
		t.Fatal("c (released) should have been evicted")
	}
	tb.Untrack(ha)
	tb.Untrack(hd)

	np, _ := newTable(t, 1, 0, nil)
	np.cfg.NoPurge = true
	np.Release(np.Acquire(a))
	if np.Acquire(b) != nil {
		t.Fatal("nopurge table evicted")
	}
}

// Expiry: an unused entry leaves Expire after its last use, by the
// table's timer on the (fake) clock; a held entry never expires and its
// expiry restarts at release.
func TestExpiry(t *testing.T) {
	tb, clk := newTable(t, 100, 30*time.Second, map[Data]time.Duration{ConnCur: 0})
	a, b := ipKey(t, tb, "10.0.0.1"), ipKey(t, tb, "10.0.0.2")
	tb.Untrack(tb.Track(a))
	held := tb.Track(b)
	clk.Advance(29 * time.Second)
	if n := tb.Len(); n != 2 {
		t.Fatalf("after 29s: %d entries", n)
	}
	clk.Advance(time.Second)
	if tb.used.Load() != 1 { // removed by the timer, not by a later operation
		t.Fatalf("after 30s: %d entries, want 1 (the held one)", tb.used.Load())
	}
	clk.Advance(time.Minute)
	if v, found, _ := tb.Read(b, ConnCur); !found || v != 1 {
		t.Fatalf("held entry: found %v conn_cur %d", found, v)
	}
	tb.Untrack(held)
	clk.Advance(29 * time.Second)
	if n := tb.Len(); n != 1 {
		t.Fatalf("29s after release: %d", n)
	}
	clk.Advance(time.Second)
	if tb.used.Load() != 0 {
		t.Fatal("released entry did not expire")
	}
	if st := tb.Stats(); st.Expired != 2 || st.Evicted != 0 {
		t.Fatalf("stats %+v", st)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left on an empty table", clk.Pending())
	}
}

// Session accounting: conn_cur counts live tracked sessions, conn_cnt and
// conn_rate every tracked connection, sess_* the accepted ones, bytes per
// direction.
func TestAccounting(t *testing.T) {
	tb, clk := newTable(t, 10, time.Minute, map[Data]time.Duration{
		ConnCur: 0, ConnCnt: 0, ConnRate: 10 * time.Second, SessCnt: 0, SessRate: 10 * time.Second,
		BytesInCnt: 0, BytesOutRate: time.Second, GPC0: 0, GPC0Rate: time.Second, ServerID: 0,
	})
	k := ipKey(t, tb, "192.0.2.9")
	var live []*Entry
	for i := 0; i < 21; i++ {
		e := tb.Track(k)
		if i%2 == 0 {
			e.IncSess(clk.Now())
		}
		live = append(live, e)
	}
	e := live[0]
	get := func(d Data) uint64 {
		v, ok := e.Get(d, clk.Now())
		if !ok {
			t.Fatalf("%v not stored", d)
		}
		return v
	}
	if get(ConnCur) != 21 || get(ConnCnt) != 21 || get(ConnRate) != 21 || get(SessCnt) != 11 || get(SessRate) != 11 {
		t.Fatalf("cur %d cnt %d rate %d sess %d/%d", get(ConnCur), get(ConnCnt), get(ConnRate), get(SessCnt), get(SessRate))
	}
	e.AddBytesIn(1000, clk.Now())
	e.AddBytesOut(500, clk.Now())
	if get(BytesInCnt) != 1000 || get(BytesOutRate) != 500 {
		t.Fatalf("bytes in %d out rate %d", get(BytesInCnt), get(BytesOutRate))
	}
	if _, ok := e.Get(BytesOutCnt, clk.Now()); ok {
		t.Fatal("bytes_out_cnt is not stored but reads ok")
	}
	if v, ok := e.IncGPC0(); !ok || v != 1 || get(GPC0Rate) != 1 {
		t.Fatalf("gpc0 %d %v", v, ok)
	}
	e.SetServer(3, "s3")
	if e.ServerID() != 3 || e.ServerKey() != "" { // server_key not stored
		t.Fatalf("server_id %d key %q", e.ServerID(), e.ServerKey())
	}
	for _, e := range live[:20] {
		tb.Untrack(e)
	}
	if get(ConnCur) != 1 || get(ConnCnt) != 21 {
		t.Fatalf("after 20 ends: cur %d cnt %d", get(ConnCur), get(ConnCnt))
	}
	clk.Advance(15 * time.Second)
	if get(ConnRate) != 10 { // 21 events, half a period later
		t.Fatalf("conn_rate after 15s: %d", get(ConnRate))
	}
	tb.Untrack(live[20])
	if v, _, _ := tb.Read(k, ConnCur); v != 0 {
		t.Fatalf("conn_cur after all ends: %d", v)
	}
}

// Several loops use one table at once (run with -race): the size bound
// holds, nothing is lost from counters and every conn_cur returns to 0.
func TestConcurrentLoops(t *testing.T) {
	tb, _ := newTable(t, 64, time.Minute, map[Data]time.Duration{ConnCur: 0, ConnCnt: 0, BytesInCnt: 0, ConnRate: time.Second})
	const loops, perLoop, keys = 4, 5000, 200
	var wg sync.WaitGroup
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed))
			var held []*Entry
			for i := 0; i < perLoop; i++ {
				if e := tb.Track(nthKey(tb, r.IntN(keys))); e != nil {
					e.AddBytesIn(10, time.Time{})
					held = append(held, e)
				}
				if len(held) > 8 || (len(held) > 0 && r.IntN(2) == 0) {
					j := r.IntN(len(held))
					tb.Untrack(held[j])
					held = append(held[:j], held[j+1:]...)
				}
				if n := tb.used.Load(); n > 64 {
					t.Errorf("%d entries in a table of 64", n)
					return
				}
			}
			for _, e := range held {
				tb.Untrack(e)
			}
		}(uint64(l))
	}
	wg.Wait()
	var b []byte
	for i := 0; i < keys; i++ {
		if v, found, _ := tb.Read(nthKey(tb, i), ConnCur); found && v != 0 {
			t.Errorf("key %d: conn_cur %d after every session ended", i, v)
		}
	}
	_ = b
	tb.mu.Lock()
	n := 0
	for e := tb.head; e != nil; e = e.next {
		n++
	}
	tb.mu.Unlock()
	if n != tb.Len() {
		t.Fatalf("list holds %d entries, index %d", n, tb.Len())
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{{Name: "x", Type: TypeIP}, {Name: "x", Type: 0, Size: 1}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	tb, err := New(Config{Name: "s", Type: TypeString, Size: 1}, nil)
	if err != nil || tb.Config().KeyLen != DefaultStringLen {
		t.Fatalf("string table: %v, len %d", err, tb.Config().KeyLen)
	}
	tb.Stop()
	_ = fmt.Sprint(tb.Name())
}

// Many entries expiring at once are removed in bounded batches by
// sessions' operations, the rest by the timer; an expired entry is never
// read or reused with its old counts.
func TestExpiryBatches(t *testing.T) {
	tb, clk := newTable(t, 1000, time.Second, map[Data]time.Duration{ConnCnt: 0})
	tb.Stop() // only operations expire entries here
	for i := 0; i < 500; i++ {
		tb.Untrack(tb.Track(nthKey(tb, i)))
	}
	clk.Advance(time.Second)
	tb.Untrack(tb.Track(nthKey(tb, 499))) // expired: starts afresh
	if v, found, _ := tb.Read(nthKey(tb, 499), ConnCnt); !found || v != 1 {
		t.Fatalf("re-tracked expired key: found %v conn_cnt %d, want a fresh entry", found, v)
	}
	if _, found, _ := tb.Read(nthKey(tb, 0), ConnCnt); found {
		t.Fatal("an expired entry was read")
	}
	if n := tb.used.Load(); n < 500-5*expireBatch {
		t.Fatalf("%d entries left after four operations: the batch is not bounded", n)
	}
	if n := tb.Len(); n != 1 {
		t.Fatalf("Len %d after a full expiry, want 1", n)
	}
}
