package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// The proxy half's parameters (perf/README.md, "Soak").
const (
	relayWorkers = 4
	// Each round trip writes 1..16 KiB (tune.bufsize) and reads it back;
	// a worker makes one every relayPace, sessions last 200..999 of them.
	relayMaxChunk = 16 << 10
	relayPace     = 2 * time.Millisecond
	// stallTimeout: a session that moves no byte for this long is
	// stalled (the proxy held it open with nothing behind it). It is over
	// the worst legitimate wait: a session opened while the backend is
	// down waits for `retries 3` turn-arounds of 1 s (spec/proxy.md).
	stallTimeout = 10 * time.Second
	// recoverBound: after a restarted backend is READY, some worker must
	// complete a round trip within this.
	recoverBound = 10 * time.Second
	// cutWindow: a session cut later than this after the backend came
	// back (and not while it was down) was cut for no reason.
	cutWindow = 5 * time.Second
)

// proxyCfg is the proxy's configuration: retries reach a restarted
// backend; no health check, so every session tries the server.
const proxyCfg = `global
    maxconn 1024

defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3

frontend fe
    bind %s
    default_backend be

backend be
    server s1 %s
`

// ProxyResult is the proxy half.
type ProxyResult struct {
	Restarts   []Restart `json:"restarts"`
	Sessions   int64     `json:"sessions"`
	Complete   int64     `json:"sessions_complete"`
	Cut        int64     `json:"sessions_cut"` // closed or reset by the proxy while the backend was away
	Refused    int64     `json:"sessions_refused"`
	DialErrors int64     `json:"dial_errors"`
	RoundTrips int64     `json:"round_trips"`
	Bytes      int64     `json:"bytes_verified"`
	Stalls     int64     `json:"stalls"`
	Corrupt    int64     `json:"corrupt"`
	StrayCuts  int64     `json:"stray_cuts"` // cut while the backend was up
	failures   []string
}

// Restart is one backend kill and start.
type Restart struct {
	KilledAt  float64 `json:"killed_at_s"`
	ReadyAt   float64 `json:"ready_at_s"`
	RecoverMs float64 `json:"recover_ms"` // READY to the next verified round trip; -1: never
	OldPID    int     `json:"old_pid"`
	NewPID    int     `json:"new_pid"`
}

// proxyRig is the proxy, its backend and what is needed to restart it.
type proxyRig struct {
	proxy   *supervise.Proc
	metrics string
	addr    string
	self    string
	bargs   []string

	mu      sync.Mutex
	backend *supervise.Proc
}

func startProxyRig(ctx context.Context, cfg Config, engine string, stops *[]func(), fail func(string, ...any)) (*proxyRig, error) {
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	// A fixed port, so the backend comes back where the proxy looks.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &proxyRig{self: cfg.Self, bargs: []string{"rawtcp-server", "--listen", host, "--echo-port", strconv.Itoa(port)}}
	if r.backend, err = r.startBackend(); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	*stops = append(*stops, func() {
		r.mu.Lock()
		b := r.backend
		r.mu.Unlock()
		if b.Exited() {
			return // killed by a restart that could not start it again (a failure already)
		}
		if err := b.Stop(); err != nil {
			fail("backend: %v", err)
		}
	})
	dir, err := os.MkdirTemp("", "soak-proxy-")
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "haproxy.cfg")
	text := fmt.Sprintf(proxyCfg, net.JoinHostPort(listenHost(cfg, engine), "0"), r.backend.Ready[0])
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	if r.proxy, err = startEngine(ctx, cfg, engine, "proxy", stops, fail, "proxy", "-f", path, "--metrics", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	r.addr, r.metrics = r.proxy.Ready[0], "http://"+r.proxy.Ready[len(r.proxy.Ready)-1]+"/metrics"
	return r, nil
}

func (r *proxyRig) startBackend() (*supervise.Proc, error) {
	return supervise.Start(supervise.Spec{Name: "backend rawtcp-server", Path: r.self, Args: r.bargs,
		ReadyWord: "READY", ReadyTimeout: 10 * time.Second})
}

// run relays for share from start, restarting the backend Restarts
// times, and returns what the relay workers saw.
func (r *proxyRig) run(ctx context.Context, cfg Config, share time.Duration, start time.Time, kills *[]float64) ProxyResult {
	var res ProxyResult
	rctx, cancel := context.WithDeadline(ctx, start.Add(share))
	defer cancel()
	rl := &relay{addr: r.addr, start: start}
	var wg sync.WaitGroup
	for i := range relayWorkers {
		wg.Go(func() { rl.worker(rctx, i) })
	}
	for i := 1; i <= Restarts; i++ {
		at := start.Add(share * time.Duration(i) / (Restarts + 1))
		if !sleepUntil(rctx, at) {
			break
		}
		rs, err := r.restart(rctx, start, rl)
		if rs.KilledAt > 0 {
			res.Restarts = append(res.Restarts, rs)
			*kills = append(*kills, rs.KilledAt)
		}
		if err != nil {
			if rctx.Err() == nil {
				res.failures = append(res.failures, fmt.Sprintf("backend restart %d: %v", i, err))
			}
			break
		}
		if rs.RecoverMs < 0 {
			res.failures = append(res.failures, fmt.Sprintf("no session relayed within %v after backend restart %d", recoverBound, i))
		}
	}
	<-rctx.Done()
	wg.Wait()
	res.Sessions, res.Complete, res.Cut, res.Refused = rl.sessions.Load(), rl.complete.Load(), rl.cut.Load(), rl.refused.Load()
	res.DialErrors, res.RoundTrips, res.Bytes = rl.dialErrs.Load(), rl.trips.Load(), rl.bytes.Load()
	res.Stalls, res.Corrupt = rl.stalls.Load(), rl.corrupt.Load()
	var stray string
	for _, c := range rl.cutEvents() {
		if !nearRestart(c.t, res.Restarts) {
			if res.StrayCuts++; stray == "" {
				stray = c.msg
			}
		}
	}
	if res.Corrupt > 0 {
		res.failures = append(res.failures, fmt.Sprintf("%d round trips came back different from what was sent (first: %s)", res.Corrupt, rl.firstErr("corrupt")))
	}
	if res.Stalls > 0 {
		res.failures = append(res.failures, fmt.Sprintf("%d sessions moved no byte for %v (first: %s)", res.Stalls, stallTimeout, rl.firstErr("stall")))
	}
	if res.StrayCuts > 0 {
		res.failures = append(res.failures, fmt.Sprintf("%d sessions cut while the backend was up (first: %s)", res.StrayCuts, stray))
	}
	if res.RoundTrips == 0 {
		res.failures = append(res.failures, "no round trip relayed at all")
	}
	return res
}

// nearRestart: t falls between a kill and cutWindow after the backend
// was READY again.
func nearRestart(t float64, rs []Restart) bool {
	for _, r := range rs {
		end := r.ReadyAt
		if end == 0 {
			end = r.KilledAt + backendDown.Seconds() + recoverBound.Seconds()
		}
		if t >= r.KilledAt-0.05 && t <= end+cutWindow.Seconds() {
			return true
		}
	}
	return false
}

// restart kills the backend by PID (SIGKILL), leaves it down for
// backendDown, starts it again on its port and measures how long until a
// session relays again.
func (r *proxyRig) restart(ctx context.Context, start time.Time, rl *relay) (Restart, error) {
	r.mu.Lock()
	old := r.backend
	r.mu.Unlock()
	rs := Restart{OldPID: old.PID(), RecoverMs: -1}
	rs.KilledAt = time.Since(start).Seconds()
	old.Kill()
	<-old.Done()
	if !sleepUntil(ctx, time.Now().Add(backendDown)) {
		return rs, ctx.Err()
	}
	nb, err := r.startBackend()
	if err != nil {
		return rs, err
	}
	r.mu.Lock()
	r.backend = nb
	r.mu.Unlock()
	ready := time.Now()
	rs.NewPID, rs.ReadyAt = nb.PID(), ready.Sub(start).Seconds()
	// Measured, not synchronised: the first verified round trip after
	// READY, looked for every 10 ms.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Since(ready) < recoverBound {
		if ok := rl.lastOK.Load(); ok > ready.UnixNano() {
			rs.RecoverMs = float64(ok-ready.UnixNano()) / 1e6
			return rs, nil
		}
		select {
		case <-ctx.Done():
			rs.RecoverMs = 0 // the share ended first: not judged
			return rs, nil
		case <-tick.C:
		}
	}
	return rs, nil
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// relay is the proxy's clients: workers that open sessions through the
// proxy and check that every byte comes back as sent, in order.
type relay struct {
	addr  string
	start time.Time

	sessions, complete, cut, refused, dialErrs atomic.Int64
	trips, bytes, stalls, corrupt              atomic.Int64
	lastOK                                     atomic.Int64 // unix ns of the last verified round trip

	mu    sync.Mutex
	cuts  []cutEvent
	first map[string]string // per kind of trouble, the first one
}

// note keeps the first message of each kind.
func (rl *relay) note(kind, format string, args ...any) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.first == nil {
		rl.first = map[string]string{}
	}
	if _, ok := rl.first[kind]; !ok {
		rl.first[kind] = fmt.Sprintf("at %.1f s: ", time.Since(rl.start).Seconds()) + fmt.Sprintf(format, args...)
	}
}

func (rl *relay) firstErr(kind string) string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.first[kind]
}

// cutEvent is a session that ended before its last round trip.
type cutEvent struct {
	t   float64
	msg string
}

func (rl *relay) cutEvents() []cutEvent {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return slices.Clone(rl.cuts)
}

// worker opens sessions one after another until ctx ends.
func (rl *relay) worker(ctx context.Context, id int) {
	d := net.Dialer{Timeout: 2 * time.Second}
	for n := uint64(0); ctx.Err() == nil; n++ {
		c, err := d.DialContext(ctx, "tcp", rl.addr)
		if err != nil {
			if ctx.Err() == nil {
				rl.dialErrs.Add(1)
				rl.note("dial", "dial: %v", err)
				sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
			}
			continue
		}
		rl.sessions.Add(1)
		rl.session(ctx, c, rand.New(rand.NewPCG(uint64(id), n)))
	}
}

// session makes 200..999 paced round trips on c and classifies its end.
func (rl *relay) session(ctx context.Context, c net.Conn, rng *rand.Rand) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() }) // the share ended: unblock
	defer stop()
	out, in := make([]byte, relayMaxChunk), make([]byte, relayMaxChunk)
	trips := 200 + rng.IntN(800)
	tick := time.NewTicker(relayPace)
	defer tick.Stop()
	for i := range trips {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		size := 1 + rng.IntN(relayMaxChunk)
		for j := 0; j < size; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				out[j+k] = byte(v >> (8 * k))
			}
		}
		_ = c.SetDeadline(time.Now().Add(stallTimeout))
		_, werr := c.Write(out[:size])
		got := 0
		var rerr error
		if werr == nil {
			got, rerr = io.ReadFull(c, in[:size])
		}
		// Every byte that came back is checked, also before a cut.
		if !bytes.Equal(in[:got], out[:got]) {
			rl.corrupt.Add(1)
			rl.note("corrupt", "round trip %d of %d bytes: bytes differ within the first %d", i, size, got)
			return
		}
		err := errors.Join(werr, rerr)
		if err == nil {
			rl.trips.Add(1)
			rl.bytes.Add(int64(size))
			rl.lastOK.Store(time.Now().UnixNano())
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rl.stalls.Add(1)
			rl.note("stall", "round trip %d: %v", i, err)
			return
		}
		if i == 0 {
			rl.refused.Add(1) // closed before the first reply: the backend was down
		} else {
			rl.cut.Add(1)
		}
		t := time.Since(rl.start).Seconds()
		rl.mu.Lock()
		rl.cuts = append(rl.cuts, cutEvent{t, fmt.Sprintf("at %.1f s: session ended after %d round trips: %v", t, i, err)})
		rl.mu.Unlock()
		return
	}
	rl.complete.Add(1)
}
