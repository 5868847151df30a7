package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/netmodels/netmodels/perf/stats"
)

// ConnRate configures the connection-rate run (proxy-anchors.md §c): each
// of Loops loops connects, writes 16 B, reads 16 B and closes, for
// Duration. Latency is per transaction, connect through close.
type ConnRate struct {
	Addr     string
	Loops    int
	Warmup   time.Duration
	Duration time.Duration
}

func oneTransaction(addr string, msg, in []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err = io.ReadFull(c, in)
	return err
}

// RunConnRate runs the loops.
func RunConnRate(ctx context.Context, r ConnRate) Result {
	res := Result{Kind: "connrate", Addr: r.Addr, Conns: r.Loops, Size: 16}
	hs := newHistSet()
	start := time.Now().Add(r.Warmup)
	end := start.Add(r.Duration)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < r.Loops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, in := []byte("0123456789abcdef"), make([]byte, 16)
			h := stats.NewLatencyHist()
			var n, errs int64
			var first error
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				err := oneTransaction(r.Addr, msg, in)
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
				stats.RecordLatency(h, time.Since(t0))
			}
			hs.merge(h)
			mu.Lock()
			res.Ops += n
			res.Errors += errs
			if first != nil && res.Err == "" {
				res.Err = fmt.Sprintf("transaction with %s: %v", r.Addr, first)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Bytes = res.Ops * 16
	res.Finish(time.Since(start), hs.all)
	return res
}
