package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/sleep"
	"github.com/netmodels/netmodels/perf/stats"
)

// Conns is the connection sweep's client (perf/bench conns.go): it opens N
// connections, a bounded number at a time, proves each is through with one
// echo of Size bytes, and holds them; then, phase by phase as its driver
// asks, it sends Size-byte requests at a fixed total Rate spread over them
// round robin (each connection sends rarely: at 10,000 connections and
// 2,000/s, one request every 5 s), open loop, latency from the intended
// send time (coordinated omission corrected, as the ping-pong's --rate).
type Conns struct {
	// Addrs are the destinations: connection i goes to the address
	// Spread picks, so that N connections need not share one 4-tuple
	// space (several frontend ports of one proxy).
	Addrs []string
	// Sources, when set, are local IP addresses to bind before connecting
	// (127.0.0.x on loopback), spread likewise: one address and port
	// pair holds at most the ephemeral port range's connections
	// (net.ipv4.ip_local_port_range, 28,232 here).
	Sources []string
	N       int
	// Parallel opens are in flight at once: the opening is paced by the
	// server's own speed (bin/dpdk's accept queue holds 1,024, and gVisor
	// slows every connection when ~10,000 handshakes arrive at once).
	Parallel int
	Size     int
	// Rate is the total intended requests per second of a phase.
	Rate float64
	// Senders send concurrently, each taking the next due request when
	// free (one pacer hands them out); a late reply holds up one sender.
	Senders int
}

// ConnsPhase is one phase's result, printed as `PHASE {json}`.
type ConnsPhase struct {
	Seconds float64            `json:"seconds"`
	Ops     int64              `json:"ops"`
	Errors  int64              `json:"errors"`
	Latency *stats.Percentiles `json:"latency,omitempty"`
	Hist    string             `json:"hist,omitempty"`
	Err     string             `json:"error,omitempty"`
}

// Spread maps connection i to its destination and source indexes: the
// (destination, source) pairs are taken in turn, so each pair gets an
// equal share (±1) of the connections whatever N is. nSources 0: no
// source binding (index 0).
func Spread(i, nAddrs, nSources int) (addr, src int) {
	nAddrs, nSources = max(nAddrs, 1), max(nSources, 1)
	t := i % (nAddrs * nSources)
	return t % nAddrs, t / nAddrs
}

// connsHeld are the open connections and the schedule's position.
type connsHeld struct {
	s     Conns
	conns []net.Conn
	next  int64 // the next request's index over all phases
}

// openConns opens s.N connections; on failure it closes them and says why.
func openConns(ctx context.Context, s Conns) (*connsHeld, time.Duration, error) {
	h := &connsHeld{s: s, conns: make([]net.Conn, s.N)}
	var failed atomic.Value
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < max(s.Parallel, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := h.openOne(i)
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Sprintf("connection %d of %d: %v", i+1, s.N, err))
					continue
				}
				h.conns[i] = c
			}
		}()
	}
	for i := 0; i < s.N && failed.Load() == nil && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if v := failed.Load(); v != nil || ctx.Err() != nil {
		h.close()
		if v == nil {
			return nil, took, ctx.Err()
		}
		return nil, took, fmt.Errorf("%s", v.(string))
	}
	return h, took, nil
}

func (h *connsHeld) openOne(i int) (net.Conn, error) {
	a, sidx := Spread(i, len(h.s.Addrs), len(h.s.Sources))
	d := net.Dialer{Timeout: 10 * time.Second}
	if len(h.s.Sources) > 0 {
		ip := net.ParseIP(h.s.Sources[sidx])
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP", h.s.Sources[sidx])
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.Dial("tcp", h.s.Addrs[a])
	if err != nil {
		return nil, err
	}
	if err := echoOnce(c, make([]byte, h.s.Size), make([]byte, h.s.Size), 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("first echo through %s: %w", h.s.Addrs[a], err)
	}
	return c, nil
}

// echoOnce writes out (stamped with seq) and reads the same bytes back.
func echoOnce(c net.Conn, out, in []byte, seq byte) error {
	out[0], out[len(out)-1] = seq, seq
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(out); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, in); err != nil {
		return err
	}
	if !bytes.Equal(in, out) {
		return fmt.Errorf("echo from %s does not match the request", c.RemoteAddr())
	}
	return nil
}

// phase sends at s.Rate for d: request j (counted over all phases) goes to
// connection j mod N and is due at start + (j − first)/Rate. One pacer
// goroutine, on its own thread with a low timer slack, hands each request
// at its due time to whichever of the Senders goroutines is free; a request
// none is free for waits, and its latency still counts from its due time.
// So at most Senders requests are in flight, and no two share a connection
// while N ≥ Senders.
//
// The client runs with a P for the pacer on top of its own (sleep.PacerP,
// set in ServeConns; two when pinned to one CPU): with one,
// a pinned client's replies waited for the runtime's 10 ms network poll
// while the pacer slept (p50 15-19 ms against the raw echo server at 1,000
// and 9,000 connections; 0.12-0.15 ms with two).
func (h *connsHeld) phase(ctx context.Context, d time.Duration) ConnsPhase {
	senders := min(max(h.s.Senders, 1), len(h.conns))
	first := h.next
	gap := time.Duration(float64(time.Second) / h.s.Rate)
	total := int64(d / gap)
	if total < 1 {
		total = 1
	}
	hs := newHistSet()
	var ops, errs atomic.Int64
	var firstErr atomic.Value
	// The first failed request ends the phase (its error is the phase's);
	// the senders finish what they hold.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	type request struct {
		k   int64
		due time.Time
	}
	work := make(chan request) // unbuffered: a request waits for a free sender
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hist := stats.NewLatencyHist()
			defer hs.merge(hist)
			out, in := bytes.Repeat([]byte{0x5a}, h.s.Size), make([]byte, h.s.Size)
			for r := range work {
				j := first + r.k
				c := h.conns[j%int64(len(h.conns))]
				if err := echoOnce(c, out, in, byte(j)); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("request %d on connection %d: %v", j, j%int64(len(h.conns)), err))
					stop()
					continue
				}
				stats.RecordLatency(hist, time.Since(r.due))
				ops.Add(1)
			}
		}()
	}
	// The pacer: its thread and timer slack are set before the schedule's
	// start is fixed, so their setup is not charged to the first requests.
	started := make(chan time.Time)
	go func() {
		defer close(work)
		lowTimerSlack()
		start := time.Now().Add(time.Millisecond)
		started <- start
		for k := int64(0); k < total && ctx.Err() == nil; k++ {
			due := start.Add(time.Duration(k) * gap)
			RealClock{}.SleepUntil(due)
			work <- request{k, due}
		}
	}()
	start := <-started
	wg.Wait()
	h.next = first + total
	var res Result
	res.Ops = ops.Load()
	res.Finish(time.Since(start), hs.all)
	p := ConnsPhase{Seconds: res.Seconds, Ops: res.Ops, Errors: errs.Load(), Latency: res.Latency, Hist: res.Hist}
	if v := firstErr.Load(); v != nil {
		p.Err = v.(string)
	}
	return p
}

func (h *connsHeld) close() {
	for _, c := range h.conns {
		if c != nil {
			c.Close()
		}
	}
	h.conns = nil
}

// ServeConns runs the sweep client's protocol: open the connections and
// print `HOLDING N SECONDS` (the opening's wall time), then for each
// `run DURATION` line on in run a phase and print `PHASE {json}`; at the
// end of in close every connection and print the final Result. A failed
// opening prints only the Result, with the reason.
func ServeConns(ctx context.Context, s Conns, in io.Reader, out io.Writer) Result {
	res := Result{Kind: "conns", Addr: strings.Join(s.Addrs, ","), Conns: s.N, Size: s.Size, Mode: "open", Rate: s.Rate}
	if s.N < 1 || len(s.Addrs) == 0 || s.Size < 1 || s.Rate <= 0 {
		res.Err = fmt.Sprintf("conns: want --n ≥ 1, --addr, --size ≥ 1 and --rate > 0 (n %d, %d addresses, size %d, rate %v)", s.N, len(s.Addrs), s.Size, s.Rate)
		return res
	}
	sleep.PacerP() // the pacer sleeps on a P of its own, the senders run on the rest
	h, took, err := openConns(ctx, s)
	if err != nil {
		res.Err = fmt.Sprintf("opening %d connections to %s: %v", s.N, res.Addr, err)
		res.Finish(took, nil)
		return res
	}
	defer h.close()
	fmt.Fprintf(out, "HOLDING %d %.6f\n", s.N, took.Seconds())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "run" {
			res.Err = fmt.Sprintf("conns: unknown command %q (want: run DURATION)", sc.Text())
			break
		}
		d, err := time.ParseDuration(f[1])
		if err != nil || d <= 0 {
			res.Err = fmt.Sprintf("conns: run %q: want a positive duration", f[1])
			break
		}
		p := h.phase(ctx, d)
		b, _ := json.Marshal(p)
		fmt.Fprintf(out, "PHASE %s\n", b)
		res.Ops += p.Ops
		res.Errors += p.Errors
	}
	res.Finish(took, nil)
	return res
}
