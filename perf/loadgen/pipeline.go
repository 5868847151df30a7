package loadgen

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/perf/msgr1ka"
)

// Pipeline configures the pipelined KEEPALIVE2 burst of ceph-mon.md §5:
// up to Window frames in flight, Batch frames per write, every ack checked
// in order.
type Pipeline struct {
	Addr      string
	Protocol  string // "ka" or "ka-raw"
	MsgrProto uint32
	Window    int
	Batch     int
	Warmup    time.Duration
	Duration  time.Duration
}

// RunPipeline measures acked frames per second on one connection.
func RunPipeline(ctx context.Context, p Pipeline) Result {
	res := Result{Kind: "ka-pipeline", Addr: p.Addr, Conns: 1, Depth: p.Window, Size: msgr1ka.FrameLen}
	var c net.Conn
	var err error
	want := msgr1ka.TagKeepalive2Ack
	if p.Protocol == "ka-raw" {
		c, err = net.DialTimeout("tcp", p.Addr, 5*time.Second)
		want = msgr1ka.TagKeepalive2
	} else {
		c, err = msgr1ka.Open(p.Addr, p.MsgrProto, 5*time.Second)
	}
	if err != nil {
		res.Err = fmt.Sprintf("connect %s: %v", p.Addr, err)
		res.Finish(0, nil)
		return res
	}
	defer c.Close()
	rd := msgr1ka.NewReader(c, want)
	// A batch larger than the window would wait forever for credits.
	p.Batch = max(1, min(p.Batch, p.Window))
	// credits bounds frames in flight to Window: the writer takes one per
	// frame, the reader returns one per ack.
	credits := make(chan struct{}, p.Window)
	for i := 0; i < p.Window; i++ {
		credits <- struct{}{}
	}
	var sent, acked atomic.Uint64
	stop := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 0, p.Batch*msgr1ka.FrameLen)
		for {
			buf = buf[:0]
			for len(buf) < p.Batch*msgr1ka.FrameLen {
				select {
				case <-credits:
				case <-stop:
					writeErr <- nil
					return
				}
				buf = msgr1ka.AppendKeepalive2(buf, sent.Add(1))
			}
			if _, err := c.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	warmEnd := time.Now().Add(p.Warmup)
	var startAcked uint64
	var start time.Time
	measuring := false
	deadline := warmEnd.Add(p.Duration)
	_ = c.SetReadDeadline(deadline.Add(5 * time.Second))
	for ctx.Err() == nil {
		s, err := rd.Next()
		if err != nil {
			res.Err = fmt.Sprintf("keepalive ack from %s: %v", p.Addr, err)
			res.Errors++
			break
		}
		n := acked.Add(1)
		if s != n {
			res.Err = fmt.Sprintf("keepalive ack from %s out of order: stamp %d, want %d", p.Addr, s, n)
			res.Errors++
			break
		}
		credits <- struct{}{}
		now := time.Now()
		if !measuring && !now.Before(warmEnd) {
			measuring, start, startAcked = true, now, n
		}
		// At least one ack is measured (MinOneSample).
		if measuring && n > startAcked && !now.Before(deadline) {
			break
		}
	}
	close(stop)
	c.Close()
	<-writeErr
	if measuring {
		res.Ops = int64(acked.Load() - startAcked)
		res.Bytes = res.Ops * msgr1ka.FrameLen
		res.Finish(time.Since(start), nil)
	} else {
		res.Finish(0, nil)
	}
	return res
}
