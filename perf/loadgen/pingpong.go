package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/perf/msgr1ka"
	"github.com/netmodels/netmodels/perf/msgr2ka"
	"github.com/netmodels/netmodels/perf/stats"
)

// PingPong configures request/response latency runs.
type PingPong struct {
	Addr  string
	Conns int
	// Size of each request and reply (raw echo), bytes.
	Size int
	// Protocol: "raw" (echo of Size bytes), "ka" (msgr1 KEEPALIVE2 to a
	// messenger) or "ka-raw" (9-byte keepalive frames to the raw echo: the
	// TCP floor under the keepalive scenario).
	Protocol string
	// "ka2" is "ka" over msgr2.1 crc mode (perf/msgr2ka): Addr is the
	// server's v2:IP:PORT/NONCE.
	// MsgrProto is the sub-protocol version the "ka" client offers first.
	MsgrProto uint32
	// PeerType is the entity type the "ka2" client dials: "mon" (it asks
	// for a global_id, AUTH_MODE_MON) or "" for an OSD (auth none
	// authorizer).
	PeerType string
	Warmup   time.Duration
	Duration time.Duration
	// Rate is the total intended request rate in open-loop mode; 0 runs
	// closed-loop at the highest rate the server allows.
	Rate float64
}

// ioGrace is how long after the end of a run a reply may still take
// before the connection is declared stuck.
const ioGrace = 5 * time.Second

// exchanger does one round trip on an open connection.
type exchanger interface {
	roundTrip() error
	setDeadline(time.Time)
	close()
}

type rawEcho struct {
	c        net.Conn
	out, in  []byte
	sequence byte
}

func (e *rawEcho) roundTrip() error {
	e.sequence++
	e.out[0], e.out[len(e.out)-1] = e.sequence, e.sequence
	if _, err := e.c.Write(e.out); err != nil {
		return err
	}
	if _, err := io.ReadFull(e.c, e.in); err != nil {
		return err
	}
	if e.in[0] != e.sequence || e.in[len(e.in)-1] != e.sequence {
		return fmt.Errorf("echo from %s: reply does not match request", e.c.RemoteAddr())
	}
	return nil
}
func (e *rawEcho) close()                  { e.c.Close() }
func (e *rawEcho) setDeadline(t time.Time) { _ = e.c.SetDeadline(t) }

type kaEcho struct {
	c     net.Conn
	rd    *msgr1ka.Reader
	stamp uint64
	out   []byte
}

func (e *kaEcho) roundTrip() error {
	e.stamp++
	e.out = msgr1ka.AppendKeepalive2(e.out[:0], e.stamp)
	if _, err := e.c.Write(e.out); err != nil {
		return err
	}
	got, err := e.rd.Next()
	if err != nil {
		return err
	}
	if got != e.stamp {
		return fmt.Errorf("keepalive from %s: ack stamp %d, want %d", e.c.RemoteAddr(), got, e.stamp)
	}
	return nil
}
func (e *kaEcho) close()                  { e.c.Close() }
func (e *kaEcho) setDeadline(t time.Time) { _ = e.c.SetDeadline(t) }

// ka2Echo is kaEcho over msgr2.
type ka2Echo struct {
	s     *msgr2ka.Session
	stamp uint64
}

func (e *ka2Echo) roundTrip() error {
	e.stamp++
	if err := e.s.Keepalive2(e.stamp); err != nil {
		return err
	}
	got, err := e.s.NextAck()
	if err != nil {
		return err
	}
	if got != e.stamp {
		return fmt.Errorf("msgr2 keepalive from %s: ack stamp %d, want %d", e.s.C.RemoteAddr(), got, e.stamp)
	}
	return nil
}
func (e *ka2Echo) close()                  { e.s.Close() }
func (e *ka2Echo) setDeadline(t time.Time) { _ = e.s.C.SetDeadline(t) }

func dialExchanger(p PingPong) (exchanger, error) {
	switch p.Protocol {
	case "raw", "":
		c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		size := max(p.Size, 1)
		return &rawEcho{c: c, out: bytes.Repeat([]byte{0x5a}, size), in: make([]byte, size)}, nil
	case "ka":
		c, err := msgr1ka.Open(p.Addr, p.MsgrProto, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return &kaEcho{c: c, rd: msgr1ka.NewReader(c, msgr1ka.TagKeepalive2Ack)}, nil
	case "ka2":
		peer := wire.EntityOSD
		if p.PeerType == "mon" {
			peer = wire.EntityMon
		}
		s, err := msgr2ka.Open(p.Addr, peer, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return &ka2Echo{s: s}, nil
	case "ka-raw":
		c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return &kaEcho{c: c, rd: msgr1ka.NewReader(c, msgr1ka.TagKeepalive2)}, nil
	}
	return nil, fmt.Errorf("unknown ping-pong protocol %q", p.Protocol)
}

// RunPingPong runs Conns connections, each one request in flight, for
// Warmup (not recorded) and then Duration.
func RunPingPong(ctx context.Context, p PingPong) Result {
	if p.Protocol == "ka" || p.Protocol == "ka-raw" {
		p.Size = msgr1ka.FrameLen
	}
	if p.Protocol == "ka2" {
		p.Size = msgr2ka.FrameLen
	}
	res := Result{Kind: "pingpong", Addr: p.Addr, Conns: p.Conns, Size: p.Size, Depth: 1, Mode: "closed", Rate: p.Rate}
	if p.Rate > 0 {
		res.Mode = "open"
	}
	var interval time.Duration
	if p.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(p.Conns) / p.Rate)
	}
	exs := make([]exchanger, p.Conns)
	for i := range exs {
		ex, err := dialExchanger(p)
		if err != nil {
			res.Err = fmt.Sprintf("connect %s: %v", p.Addr, err)
			for _, e := range exs[:i] {
				e.close()
			}
			res.Finish(0, nil)
			return res
		}
		exs[i] = ex
	}
	hs := newHistSet()
	var ops, errs atomic.Int64
	var firstErr atomic.Value
	per := make([]float64, p.Conns)
	// Every connection warms up, then all start measuring at one instant.
	warmEnd := time.Now().Add(p.Warmup)
	start := warmEnd
	until := start.Add(p.Duration)
	var wg sync.WaitGroup
	for i, ex := range exs {
		// A lost reply must end the run with an error, not hang it.
		ex.setDeadline(until.Add(ioGrace))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ex.close()
			for time.Now().Before(warmEnd) && ctx.Err() == nil {
				if err := ex.roundTrip(); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
			}
			if interval > 0 {
				lowTimerSlack()
			}
			RealClock{}.SleepUntil(start)
			h := stats.NewLatencyHist()
			pc := &Pacer{Clock: RealClock{}, Interval: interval, Until: until,
				Record: func(d time.Duration) { stats.RecordLatency(h, d) }}
			n, err := pc.Run(ctx, ex.roundTrip)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			ops.Add(n)
			per[i] = float64(n)
			hs.merge(h)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range per { // ops per second, over the measured time
		per[i] /= max(elapsed.Seconds(), 1e-9)
	}
	res.Ops, res.Errors, res.PerConn = ops.Load(), errs.Load(), per
	res.Bytes = res.Ops * int64(p.Size)
	if v := firstErr.Load(); v != nil {
		res.Err = v.(string)
	}
	res.Finish(elapsed, hs.all)
	return res
}
