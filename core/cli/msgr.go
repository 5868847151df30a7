package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/sleep"
)

// Echo message types (CONTRACT.md).
const (
	MsgEcho      uint16 = 0x7E01
	MsgEchoReply uint16 = 0x7E02
)

func init() {
	Register(Command{Name: "msgr-server", Summary: "msgr1 echo server (spec/messenger.md)", Run: runMsgrServer})
	Register(Command{Name: "msgr-client", Summary: "msgr1 load client with a JSON summary", Run: runMsgrClient})
}

// msgrFlags are shared by both subcommands.
type msgrFlags struct {
	name, policy, crc string
	workers           int
	maxMsg            uint64
	inject            int
	backoff, maxBack  time.Duration
	hsTimeout         time.Duration
	injDelay          time.Duration
	injDelayEvery     int
}

func (f *msgrFlags) register(fs *flag.FlagSet, defName, defPolicy string) {
	fs.StringVar(&f.name, "name", defName, "entity name TYPE.ID")
	fs.StringVar(&f.policy, "policy", defPolicy, "policy preset: "+strings.Join(msgr.PolicyNames(), ", "))
	fs.StringVar(&f.crc, "crc", "", `"none" turns header and data CRCs off`)
	fs.IntVar(&f.workers, "workers", 0, "engine loops (0: number of CPUs)")
	fs.Uint64Var(&f.maxMsg, "max-message-bytes", 128<<20, "largest message accepted (front+middle+data)")
	fs.IntVar(&f.inject, "inject-socket-failures", 0, "fail about one socket read or write in N (0: off)")
	fs.DurationVar(&f.backoff, "initial-backoff", 200*time.Millisecond, "first reconnect back-off (ms_initial_backoff)")
	fs.DurationVar(&f.maxBack, "max-backoff", 15*time.Second, "back-off cap and WAIT delay (ms_max_backoff)")
	fs.DurationVar(&f.hsTimeout, "handshake-timeout", 10*time.Second, "ms_connection_ready_timeout")
	fs.DurationVar(&f.injDelay, "inject-delay", 0, "pause reading this long about once every --inject-delay-every reads")
	fs.IntVar(&f.injDelayEvery, "inject-delay-every", 100, "see --inject-delay")
}

func (f *msgrFlags) check(env *Env) (int, bool) {
	if _, err := wire.ParseEntityName(f.name); err != nil {
		return env.Usagef("--name %q: want TYPE.ID, e.g. osd.0", f.name), false
	}
	if _, err := msgr.PolicyByName(f.policy); err != nil {
		return env.Usagef("--policy: %v", err), false
	}
	if f.crc != "" && f.crc != "none" && f.crc != "crc32c" {
		return env.Usagef("--crc %q: want none or crc32c", f.crc), false
	}
	if f.backoff <= 0 || f.maxBack < f.backoff || f.hsTimeout <= 0 {
		return env.Usagef("--initial-backoff, --max-backoff, --handshake-timeout must be > 0, max >= initial"), false
	}
	if f.injDelay < 0 || f.injDelayEvery <= 0 {
		return env.Usagef("--inject-delay must be >= 0 and --inject-delay-every > 0"), false
	}
	if f.workers < 0 || f.inject < 0 || f.maxMsg == 0 {
		return env.Usagef("--workers, --inject-socket-failures must be >= 0 and --max-message-bytes > 0"), false
	}
	return 0, true
}

func (f *msgrFlags) config(env *Env) msgr.Config {
	name, _ := wire.ParseEntityName(f.name)
	return msgr.Config{
		// Monitors use nonce 0 (their monmap entries say so, and a peer
		// mon checks it, msgr-v1-wire §5); everyone else a random one.
		Name: f.name, RandomNonce: name.Type != wire.EntityMon, Policy: f.policy, NoCRC: f.crc == "none",
		MaxMessageBytes: f.maxMsg, InjectSocketFailures: f.inject,
		InitialBackoff: f.backoff, MaxBackoff: f.maxBack, HandshakeTimeout: f.hsTimeout,
		InjectDelay: f.injDelay, InjectDelayEvery: f.injDelayEvery,
		Logf: func(format string, args ...any) { env.Logf(format, args...) },
	}
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

// echoServer answers ECHO with ECHO_REPLY (same tid, byte-identical
// sections); other types are counted and dropped.
type echoServer struct {
	delay   time.Duration
	env     *Env
	echoed  atomic.Uint64
	other   atomic.Uint64
	dropped atomic.Uint64
}

func (e *echoServer) Dispatch(m *msgr.Message) {
	if e.delay > 0 {
		time.Sleep(e.delay) // the dispatch goroutine is the slow consumer (--dispatch-delay)
	}
	e.handle(m)
}

func (e *echoServer) handle(m *msgr.Message) {
	if m.Type != MsgEcho {
		e.other.Add(1)
		return
	}
	// The received sections are ours; the reply may share them.
	r := &msgr.Message{Type: MsgEchoReply, Tid: m.Tid, Priority: m.Priority, Version: m.Version,
		CompatVersion: m.CompatVersion, Front: m.Front, Middle: m.Middle, Data: m.Data, DataOff: m.DataOff}
	if err := m.Conn.SendMessage(r); err != nil {
		// Out-queue full (a client that does not read) or closed: drop.
		e.dropped.Add(1)
		return
	}
	e.echoed.Add(1)
}

func (e *echoServer) CanFastDispatch(*msgr.Message) bool { return e.delay == 0 }
func (e *echoServer) FastDispatch(m *msgr.Message)       { e.handle(m) }
func (e *echoServer) HandleConnect(*msgr.Connection)     {}
func (e *echoServer) HandleAccept(*msgr.Connection)      {}
func (e *echoServer) HandleReset(*msgr.Connection)       {}
func (e *echoServer) HandleRemoteReset(*msgr.Connection) {}
func (e *echoServer) HandleRefused(*msgr.Connection)     {}

func runMsgrServer(env *Env, args []string) int {
	fs := NewFlagSet(env, "msgr-server")
	var f msgrFlags
	f.register(fs, "osd.0", "stateful_server")
	listen := fs.String("listen", "", "HOST:PORT to listen on (port 0: any)")
	thMsgs := fs.Int64("throttle-msgs", 0, "policy message throttle (0: unlimited)")
	thBytes := fs.Int64("throttle-bytes", 0, "policy byte throttle (0: unlimited)")
	dispBytes := fs.Int64("dispatch-throttle-bytes", 100<<20, "dispatch queue byte throttle")
	delay := fs.Duration("dispatch-delay", 0, "time the dispatcher takes per message")
	metrics := fs.String("metrics", "", "HOST:PORT serving Prometheus /metrics")
	if st, ok := ParseFlags(env, fs, args); !ok {
		return st
	}
	if st, ok := f.check(env); !ok {
		return st
	}
	if *listen == "" {
		return env.Usagef("msgr-server: --listen HOST:PORT is required")
	}
	if err := checkHostPort(*listen); err != nil {
		return env.Usagef("--listen %q: %v", *listen, err)
	}
	if *thMsgs < 0 || *thBytes < 0 || *dispBytes <= 0 || *delay < 0 {
		return env.Usagef("throttles must be >= 0 (--dispatch-throttle-bytes > 0) and --dispatch-delay >= 0")
	}
	var ml net.Listener
	if *metrics != "" {
		if err := checkHostPort(*metrics); err != nil {
			return env.Usagef("--metrics %q: %v", *metrics, err)
		}
		l, err := net.Listen("tcp", *metrics)
		if err != nil {
			return env.Usagef("--metrics %s: %v", *metrics, err)
		}
		ml = l
	}
	eng, err := env.Engine.New(engine.Config{Workers: f.workers})
	if err != nil {
		return env.Usagef("engine: %v", err)
	}
	reg := prometheus.NewRegistry()
	cfg := f.config(env)
	cfg.ThrottleMessages, cfg.ThrottleBytes, cfg.DispatchThrottleBytes = *thMsgs, *thBytes, *dispBytes
	cfg.Registry = reg
	m, err := msgr.New(eng, cfg)
	if err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("msgr-server: %v", err)
	}
	srv := &echoServer{delay: *delay, env: env}
	_ = m.Start(srv)
	if err := m.Bind(*listen); err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("--listen %s: %v", *listen, err)
	}
	addrs := []net.Addr{m.ListenAddr()}
	var hs *http.Server
	if ml != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ml) }()
		addrs = append(addrs, ml.Addr())
	}
	env.Logf("msgr-server %s at %s (policy %s)", f.name, m.Addr(), f.policy)
	env.Ready(addrs...)
	<-env.Ctx.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if hs != nil {
		_ = hs.Shutdown(ctx)
	}
	_ = m.Shutdown(ctx)
	_ = ShutdownEngine(eng)
	env.Logf("msgr-server: echoed %d, other %d, dropped %d", srv.echoed.Load(), srv.other.Load(), srv.dropped.Load())
	return 0
}

// sizeSpec is --size: "N" or "MIN-MAX" (uniform per message).
type sizeSpec struct{ min, max int }

func parseSize(s string) (sizeSpec, error) {
	lo, hi, rng := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 {
		return sizeSpec{}, fmt.Errorf("want BYTES or MIN-MAX")
	}
	b := a
	if rng {
		if b, err = strconv.Atoi(hi); err != nil || b < a {
			return sizeSpec{}, fmt.Errorf("want BYTES or MIN-MAX with MIN <= MAX")
		}
	}
	return sizeSpec{a, b}, nil
}

func (z sizeSpec) pick(r *rand.Rand) int {
	if z.max == z.min {
		return z.min
	}
	return z.min + r.IntN(z.max-z.min+1)
}

func (z sizeSpec) String() string {
	if z.min == z.max {
		return strconv.Itoa(z.min)
	}
	return fmt.Sprintf("%d-%d", z.min, z.max)
}

// clientConn drives one connection: up to depth ECHOs in flight, replies
// checked against what was sent (tid order, type, sections).
type clientConn struct {
	run  *clientRun
	m    *msgr.Messenger
	conn *msgr.Connection
	rng  *rand.Rand

	mu       sync.Mutex
	nextTid  uint64
	inflight []*flight   // FIFO by tid
	quota    int64       // messages this connection may still send (count mode); <0: unlimited
	backlog  []time.Time // open-loop sends due but held back by the depth (bounded)
	stopped  bool
}

type flight struct {
	tid  uint64
	data []byte
	at   time.Time
}

type clientRun struct {
	env      *Env
	pattern  []byte
	size     sizeSpec
	depth    int
	sent     atomic.Int64
	received atomic.Int64
	errors   atomic.Int64
	progress chan struct{}
	dead     chan struct{} // a lossy session closed: replies will never come
	rate     float64

	rttMu sync.Mutex
	rtts  []float64 // µs, bounded reservoir
	seen  int64
	maxUs float64
}

const maxRTTSamples = 1 << 20

// maxBacklog bounds open-loop sends waiting for a free depth slot; beyond
// it the generator skips sends (the server is far slower than --rate).
const maxBacklog = 1 << 16

func (r *clientRun) recordRTT(us float64) {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	r.seen++
	r.maxUs = max(r.maxUs, us)
	if len(r.rtts) < maxRTTSamples {
		r.rtts = append(r.rtts, us)
	} else if j := rand.Int64N(r.seen); j < maxRTTSamples {
		r.rtts[j] = us
	}
}

func (r *clientRun) fail(format string, args ...any) {
	if r.errors.Add(1) <= 10 {
		r.env.Logf(format, args...)
	}
}

// sendLocked sends one ECHO if allowed.
func (c *clientConn) sendLocked(at time.Time) bool {
	if c.stopped || c.quota == 0 || len(c.inflight) >= c.run.depth {
		return false
	}
	c.nextTid++
	size := c.run.size.pick(c.rng)
	off := int(c.nextTid*7919) % (len(c.run.pattern) - size + 1)
	data := c.run.pattern[off : off+size : off+size]
	m := &msgr.Message{Type: MsgEcho, Tid: c.nextTid, Version: 1, CompatVersion: 1, Data: data}
	if err := c.conn.SendMessage(m); err != nil {
		c.nextTid--
		c.run.fail("msgr-client: send: %v", err)
		return false
	}
	if c.quota > 0 {
		c.quota--
	}
	c.inflight = append(c.inflight, &flight{tid: m.Tid, data: data, at: at})
	c.run.sent.Add(1)
	return true
}

func (c *clientConn) onReply(m *msgr.Message) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Type != MsgEchoReply {
		return // unsolicited (a mon would send maps); not ours to check
	}
	if len(c.inflight) == 0 || c.inflight[0].tid != m.Tid {
		want := uint64(0)
		if len(c.inflight) > 0 {
			want = c.inflight[0].tid
		}
		c.run.fail("msgr-client: reply tid %d, want %d (duplicate or out of order)", m.Tid, want)
		return
	}
	f := c.inflight[0]
	c.inflight[0] = nil
	c.inflight = c.inflight[1:]
	if !bytes.Equal(m.Data, f.data) || len(m.Front) != 0 || len(m.Middle) != 0 {
		c.run.fail("msgr-client: reply tid %d: payload differs (%d bytes, sent %d)", m.Tid, len(m.Data), len(f.data))
	} else {
		c.run.received.Add(1)
		c.run.recordRTT(float64(now.Sub(f.at).Nanoseconds()) / 1e3)
	}
	select {
	case c.run.progress <- struct{}{}:
	default:
	}
	if len(c.backlog) > 0 {
		if c.sendLocked(c.backlog[0]) {
			c.backlog = c.backlog[1:]
		}
		return
	}
	if !c.openLoop() {
		c.sendLocked(now)
	}
}

func (c *clientConn) openLoop() bool { return c.run.rate > 0 }

func (c *clientConn) Dispatch(m *msgr.Message)           { c.onReply(m) }
func (c *clientConn) CanFastDispatch(*msgr.Message) bool { return true }
func (c *clientConn) FastDispatch(m *msgr.Message)       { c.onReply(m) }
func (c *clientConn) HandleConnect(*msgr.Connection)     {}
func (c *clientConn) HandleAccept(*msgr.Connection)      {}
func (c *clientConn) HandleReset(*msgr.Connection) {
	c.run.fail("msgr-client: session reset (lossy)")
	c.run.lost()
}
func (c *clientConn) HandleRemoteReset(*msgr.Connection) {
	// RESETSESSION discarded our queued and unacked messages (§11.1): the
	// run fails (their replies never come), but the session itself goes on,
	// so the client keeps running until --timeout rather than dropping it.
	c.run.fail("msgr-client: server reset the session")
}
func (c *clientConn) HandleRefused(conn *msgr.Connection) {
	c.run.fail("msgr-client: connect to %s failed", conn.PeerAddr())
	c.run.lost()
}

// lost reports that a session can no longer complete the run.
func (r *clientRun) lost() {
	select {
	case r.dead <- struct{}{}:
	default:
	}
}

type rttSummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

type clientSummary struct {
	Engine    string     `json:"engine"`
	Conns     int        `json:"conns"`
	Depth     int        `json:"depth"`
	Size      any        `json:"size"`
	Sent      int64      `json:"sent"`
	Received  int64      `json:"received"`
	Errors    int64      `json:"errors"`
	Seconds   float64    `json:"seconds"`
	MsgsPerS  float64    `json:"msgs_per_s"`
	BytesPerS float64    `json:"bytes_per_s"`
	RTTUs     rttSummary `json:"rtt_us"`
}

func runMsgrClient(env *Env, args []string) int {
	fs := NewFlagSet(env, "msgr-client")
	var f msgrFlags
	f.register(fs, "client.0", "lossless_client")
	connect := fs.String("connect", "", "server HOST:PORT")
	peer := fs.String("peer-type", "osd", "the server's entity type (selects the protocol version)")
	conns := fs.Int("conns", 1, "connections (one messenger each)")
	depth := fs.Int("depth", 1, "messages in flight per connection")
	sizeS := fs.String("size", "4096", "data bytes per message: N or MIN-MAX")
	count := fs.Int64("count", 0, "messages to send in all")
	duration := fs.Duration("duration", 0, "send for this long")
	rate := fs.Float64("rate", 0, "open-loop rate in messages/s over all connections (0: closed loop)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long without progress")
	if st, ok := ParseFlags(env, fs, args); !ok {
		return st
	}
	if st, ok := f.check(env); !ok {
		return st
	}
	if *connect == "" {
		return env.Usagef("msgr-client: --connect HOST:PORT is required")
	}
	if err := checkHostPort(*connect); err != nil {
		return env.Usagef("--connect %q: %v", *connect, err)
	}
	peerType, err := wire.ParseEntityType(*peer)
	if err != nil {
		return env.Usagef("--peer-type: %v", err)
	}
	size, err := parseSize(*sizeS)
	if err != nil {
		return env.Usagef("--size %q: %v", *sizeS, err)
	}
	if uint64(size.max) > f.maxMsg {
		return env.Usagef("--size %s exceeds --max-message-bytes %d", size, f.maxMsg)
	}
	countSet := false
	fs.Visit(func(fl *flag.Flag) { countSet = countSet || fl.Name == "count" })
	if countSet == (*duration > 0) {
		return env.Usagef("msgr-client: give exactly one of --count N and --duration D")
	}
	handshakeOnly := countSet && *count == 0
	if *conns < 1 || *depth < 1 || *count < 0 || *rate < 0 {
		return env.Usagef("msgr-client: --conns and --depth must be >= 1, --count and --rate >= 0")
	}
	eng, err := env.Engine.New(engine.Config{Workers: f.workers})
	if err != nil {
		return env.Usagef("engine: %v", err)
	}
	run := &clientRun{env: env, size: size, depth: *depth, progress: make(chan struct{}, 1), dead: make(chan struct{}, 1), rate: *rate}
	run.pattern = make([]byte, size.max+1<<20)
	for i := range run.pattern {
		run.pattern[i] = byte(rand.Uint32())
	}
	host, port, _ := net.SplitHostPort(*connect)
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	target := net.JoinHostPort(host, port)
	var cs []*clientConn
	var per []int64
	for i := range *conns {
		q := int64(-1)
		if *count > 0 {
			q = *count / int64(*conns)
			if int64(i) < *count%int64(*conns) {
				q++
			}
		}
		per = append(per, q)
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, c := range cs {
			_ = c.m.Shutdown(ctx)
		}
		_ = ShutdownEngine(eng)
	}
	for i := range *conns {
		cfg := f.config(env)
		m, err := msgr.New(eng, cfg)
		if err != nil {
			cleanup()
			return env.Usagef("msgr-client: %v", err)
		}
		c := &clientConn{run: run, m: m, rng: rand.New(rand.NewPCG(uint64(i), rand.Uint64())), quota: per[i]}
		cs = append(cs, c)
		_ = m.Start(c)
		conn, err := m.ConnectTo(peerType, target)
		if err != nil {
			cleanup()
			return env.Usagef("--connect %s: %v", *connect, err)
		}
		c.conn = conn
	}
	start := time.Now()
	if handshakeOnly {
		// --count 0: open every session and do one KEEPALIVE2 round trip.
		outcome := 0
		for _, c := range cs {
			c.conn.SendKeepalive()
		}
		deadline := time.Now().Add(*timeout)
		for _, c := range cs {
			for c.conn.LastKeepaliveAck().IsZero() && time.Now().Before(deadline) && env.Ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond) // no callback exists for a keepalive ack
			}
			if c.conn.LastKeepaliveAck().IsZero() {
				env.Logf("msgr-client: no KEEPALIVE2_ACK within %v (state %s)", *timeout, c.conn.State())
				outcome = 1
			}
		}
		elapsed := time.Since(start).Seconds()
		cleanup()
		out, _ := json.Marshal(clientSummary{Engine: env.Engine.Name, Conns: *conns, Depth: *depth, Size: size.min,
			Errors: run.errors.Load(), Seconds: elapsed})
		fmt.Fprintln(env.Stdout, string(out))
		if outcome != 0 || run.errors.Load() != 0 {
			return 1
		}
		return 0
	}
	stopSending := func() {
		for _, c := range cs {
			c.mu.Lock()
			c.stopped = true
			c.mu.Unlock()
		}
	}
	done := make(chan struct{})
	if *rate > 0 {
		go openLoop(cs, *rate, start, done)
	} else {
		for _, c := range cs {
			c.mu.Lock()
			for c.sendLocked(time.Now()) {
			}
			c.mu.Unlock()
		}
	}
	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	idle := time.NewTimer(*timeout)
	outcome := 0
wait:
	for {
		if finished(cs) {
			break
		}
		select {
		case <-run.progress:
			idle.Reset(*timeout)
		case <-deadline:
			stopSending()
			deadline = nil
		case <-run.dead:
			env.Logf("msgr-client: a session closed for good (%d sent, %d received)", run.sent.Load(), run.received.Load())
			outcome = 1
			break wait
		case <-idle.C:
			env.Logf("msgr-client: no progress for %v (%d sent, %d received)", *timeout, run.sent.Load(), run.received.Load())
			outcome = 1
			break wait
		case <-env.Ctx.Done():
			outcome = 1
			break wait
		}
	}
	close(done)
	elapsed := time.Since(start).Seconds()
	stopSending()
	cleanup()
	sum := clientSummary{Engine: env.Engine.Name, Conns: *conns, Depth: *depth, Sent: run.sent.Load(),
		Received: run.received.Load(), Errors: run.errors.Load(), Seconds: elapsed}
	if size.min == size.max {
		sum.Size = size.min
	} else {
		sum.Size = size.String()
	}
	if elapsed > 0 {
		sum.MsgsPerS = float64(sum.Received) / elapsed
		sum.BytesPerS = sum.MsgsPerS * float64(size.min+size.max) / 2
	}
	sum.RTTUs = run.summary()
	out, _ := json.Marshal(sum)
	fmt.Fprintln(env.Stdout, string(out))
	if outcome != 0 || sum.Errors != 0 || sum.Received != sum.Sent || (*count > 0 && sum.Sent != *count) {
		return 1
	}
	return 0
}

// finished: nothing in flight and nothing left to send.
func finished(cs []*clientConn) bool {
	for _, c := range cs {
		c.mu.Lock()
		busy := len(c.inflight) > 0 || (!c.stopped && (c.quota != 0 || len(c.backlog) > 0))
		c.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// openLoop sends at a fixed rate across connections; a send due while the
// connection is at its depth is held as backlog and its RTT counts from
// the time it was due (coordinated omission corrected). Every microsecond
// the pacer wakes late is charged to the message it sends, so it waits
// with core/sleep (nanosleep at 1 ns timer slack on its own thread), not a
// Go timer, which wakes about 1 ms late on these VMs.
func openLoop(cs []*clientConn, rate float64, start time.Time, done <-chan struct{}) {
	sleep.LowTimerSlack()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !sleep.UntilOrDone(due, done) {
			return
		}
		c := cs[i%len(cs)]
		c.mu.Lock()
		if c.stopped || c.quota == 0 {
			c.mu.Unlock()
			if allStopped(cs) {
				return
			}
			continue
		}
		if !c.sendLocked(due) && len(c.backlog) < maxBacklog {
			c.backlog = append(c.backlog, due)
		}
		c.mu.Unlock()
	}
}

func allStopped(cs []*clientConn) bool {
	for _, c := range cs {
		c.mu.Lock()
		s := c.stopped || c.quota == 0
		c.mu.Unlock()
		if !s {
			return false
		}
	}
	return true
}

func (r *clientRun) summary() rttSummary {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	if len(r.rtts) == 0 {
		return rttSummary{}
	}
	s := slices.Clone(r.rtts)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return rttSummary{P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: r.maxUs}
}
