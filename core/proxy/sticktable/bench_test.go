package sticktable

import (
	"testing"
	"time"
)

// benchTable is a table on the wall clock, as the proxy runs it.
func benchTable(b *testing.B, size int, expire time.Duration, stores map[Data]time.Duration) *Table {
	tb, err := New(Config{Name: "fe", Type: TypeIP, Size: size, Expire: expire, Stores: mustStores(b, stores)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tb.Stop)
	return tb
}

// Per-connection cost of tracking: one Track and one Untrack of a source
// already in the table (the common case: a returning client).
func BenchmarkTrackUntrack(b *testing.B) {
	tb := benchTable(b, 102400, 30*time.Second, map[Data]time.Duration{ConnCur: 0, ConnRate: 10 * time.Second})
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = nthKey(tb, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tb.Untrack(tb.Track(keys[i&1023]))
	}
}

// A new source per connection in a full table: every Track evicts.
func BenchmarkTrackUntrackEvicting(b *testing.B) {
	tb := benchTable(b, 1000, 30*time.Second, map[Data]time.Duration{ConnCur: 0, ConnRate: 10 * time.Second})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tb.Untrack(tb.Track(nthKey(tb, i)))
	}
}

// Four loops tracking at once (the table's mutex under contention).
func BenchmarkTrackUntrackParallel(b *testing.B) {
	tb := benchTable(b, 102400, 30*time.Second, map[Data]time.Duration{ConnCur: 0, ConnRate: 10 * time.Second})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tb.Untrack(tb.Track(nthKey(tb, i&4095)))
			i++
		}
	})
}

// The relay path's cost per read with bytes_in_cnt and bytes_in_rate.
func BenchmarkAddBytesIn(b *testing.B) {
	tb := benchTable(b, 10, 0, map[Data]time.Duration{BytesInCnt: 0, BytesInRate: time.Second})
	e := tb.Track(nthKey(tb, 1))
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.AddBytesIn(16384, now)
	}
}
