package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/netmodels/netmodels/perf/stats"
)

// closedLoops runs loops goroutines, each repeating one transaction until
// end: a transaction started before start is warm-up (run, not counted); a
// loop's first transaction in the window runs even when the window is
// already over (MinOneSample). newTxn gives each loop its own transaction
// function (its own buffers); a transaction returns the instant its measured
// part ended (what follows, such as a close, is not part of its latency).
// Counts, the merged latency histogram and the first error (prefixed with
// what) go into res; res.Finish is the caller's.
func closedLoops(ctx context.Context, res *Result, loops int, start, end time.Time, what string, newTxn func() func() (time.Time, error)) *histSet {
	hs := newHistSet()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < loops; i++ {
		wg.Add(1)
		go func(txn func() (time.Time, error)) {
			defer wg.Done()
			h := stats.NewLatencyHist()
			var n, errs int64
			var first error
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) && n+errs > 0 {
					break
				}
				done, err := txn()
				if t0.Before(start) {
					continue // warm-up
				}
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				n++
				stats.RecordLatency(h, done.Sub(t0))
			}
			hs.merge(h)
			mu.Lock()
			res.Ops += n
			res.Errors += errs
			if first != nil && res.Err == "" {
				res.Err = fmt.Sprintf("%s: %v", what, first)
			}
			mu.Unlock()
		}(newTxn())
	}
	wg.Wait()
	return hs
}
