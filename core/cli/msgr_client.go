package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/sleep"
)

func init() {
	Register(Command{Name: "msgr-client", Summary: "msgr1/msgr2 load client with a JSON summary", Run: runMsgrClient})
}

// clientOptions are msgr-client's flags, checked.
type clientOptions struct {
	msgrFlags
	connect  string // HOST:PORT
	nonce    uint32 // msgr2: the server's nonce
	peerType wire.EntityType
	conns    int
	depth    int
	size     msgrjson.Size
	count    int64 // with countSet: messages in all; 0: handshake probe
	countSet bool
	duration time.Duration
	rate     float64
	timeout  time.Duration
	// handshakeFirst: one KEEPALIVE2 round trip on every session before
	// the first ECHO, so that an open-loop schedule starts on open
	// sessions instead of charging the handshake (and, near saturation,
	// the backlog it leaves) to its first messages.
	handshakeFirst bool
}

func parseClientFlags(env *Env, args []string) (o clientOptions, status int, ok bool) {
	fs := NewFlagSet(env, "msgr-client")
	o.register(fs, "client.0", "lossless_client")
	connect := fs.String("connect", "", "server HOST:PORT, or v2:IP:PORT[/NONCE] (msgr2)")
	peer := fs.String("peer-type", "osd", "the server's entity type (selects the protocol version)")
	fs.IntVar(&o.conns, "conns", 1, "connections (one messenger each)")
	fs.IntVar(&o.depth, "depth", 1, "messages in flight per connection")
	sizeS := fs.String("size", "4096", "data bytes per message: N or MIN-MAX")
	fs.Int64Var(&o.count, "count", 0, "messages to send in all")
	fs.DurationVar(&o.duration, "duration", 0, "send for this long")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop rate in messages/s over all connections (0: closed loop)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long without progress")
	fs.BoolVar(&o.handshakeFirst, "handshake-first", false, "one KEEPALIVE2 round trip on every session before the first ECHO (not counted)")
	if st, ok := ParseFlags(env, fs, args); !ok {
		return o, st, false
	}
	if rest, ok := strings.CutPrefix(*connect, "v2:"); ok {
		// A v2 address selects msgr2.
		if flagSet(fs, "protocol") && o.protocol != "v2" {
			return o, env.Usagef("--connect %s is an msgr2 address, but --protocol is %s", *connect, o.protocol), false
		}
		o.protocol, *connect = "v2", rest
	}
	if st, ok := o.check(env); !ok {
		return o, st, false
	}
	o.connect = *connect
	if o.connect == "" {
		return o, env.Usagef("msgr-client: --connect HOST:PORT is required"), false
	}
	if o.protocol == "v2" {
		// msgr2 has no banner address: the server checks that we dialled
		// exactly one of its addresses, nonce included (0: a monitor's).
		hp, nonce, hasNonce := strings.Cut(o.connect, "/")
		if hasNonce {
			n, err := strconv.ParseUint(nonce, 10, 32)
			if err != nil {
				return o, env.Usagef("--connect %q: nonce %q: want a 32-bit number", *connect, nonce), false
			}
			o.nonce = uint32(n)
		}
		o.connect = hp
	}
	if err := checkHostPort(o.connect); err != nil {
		return o, env.Usagef("--connect %q: %v", o.connect, err), false
	}
	var err error
	if o.peerType, err = wire.ParseEntityType(*peer); err != nil {
		return o, env.Usagef("--peer-type: %v", err), false
	}
	if o.size, err = msgrjson.ParseSize(*sizeS); err != nil {
		return o, env.Usagef("--size %q: %v", *sizeS, err), false
	}
	if uint64(o.size.Max) > o.maxMsg {
		return o, env.Usagef("--size %s exceeds --max-message-bytes %d", o.size, o.maxMsg), false
	}
	o.countSet = flagSet(fs, "count")
	if o.countSet == (o.duration > 0) {
		return o, env.Usagef("msgr-client: give exactly one of --count N and --duration D"), false
	}
	if o.conns < 1 || o.depth < 1 || o.count < 0 || o.rate < 0 {
		return o, env.Usagef("msgr-client: --conns and --depth must be >= 1, --count and --rate >= 0"), false
	}
	return o, 0, true
}

// quota is connection i's share of --count; -1: unlimited (--duration).
func (o *clientOptions) quota(i int) int64 {
	if o.count <= 0 {
		return -1
	}
	q := o.count / int64(o.conns)
	if int64(i) < o.count%int64(o.conns) {
		q++
	}
	return q
}

// runMsgrClient is msgr-client: --conns messengers, one session each, that
// send ECHOs and check every reply, then one JSON line (msgrjson.Summary).
func runMsgrClient(env *Env, args []string) int {
	o, st, ok := parseClientFlags(env, args)
	if !ok {
		return st
	}
	eng, err := env.Engine.New(engine.Config{Workers: o.workers})
	if err != nil {
		return env.Usagef("engine: %v", err)
	}
	run := newClientRun(env, o.conns, o.size, o.depth, o.rate)
	host, port, _ := net.SplitHostPort(o.connect)
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && ip.IsUnspecified()) {
		// A wildcard (a server's READY after --listen 0.0.0.0:P) is
		// dialed on loopback; msgr2's CLIENT_IDENT must then name
		// loopback too, the address the server's socket has.
		host = "127.0.0.1"
	}
	target := net.JoinHostPort(host, port)
	if o.protocol == "v2" {
		target = fmt.Sprintf("v2:%s/%d", target, o.nonce)
	}
	var cs []*clientConn
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, c := range cs {
			_ = c.m.Shutdown(ctx)
		}
		_ = ShutdownEngine(eng)
	}
	for i := range o.conns {
		m, err := msgr.New(eng, o.config(env))
		if err != nil {
			cleanup()
			return env.Usagef("msgr-client: %v", err)
		}
		c := &clientConn{run: run, m: m, rng: rand.New(rand.NewPCG(uint64(i), rand.Uint64())),
			rtt: run.rtt.stripe(i), quota: o.quota(i)}
		cs = append(cs, c)
		_ = m.Start(c)
		conn, err := m.ConnectTo(o.peerType, target)
		if err != nil {
			cleanup()
			return env.Usagef("--connect %s: %v", o.connect, err)
		}
		c.conn = conn
	}
	if o.handshakeFirst && !(o.countSet && o.count == 0) {
		if handshakeFirst(env, run, cs, o.timeout) != 0 {
			cleanup()
			sum := msgrjson.Summary{Engine: env.Engine.Name, Conns: o.conns, Depth: o.depth, Size: o.size, Errors: run.errors.Load() + 1}
			printSummary(env, run, sum)
			return 1
		}
	}
	start := time.Now()
	if o.countSet && o.count == 0 {
		outcome := handshakeProbe(env, cs, o.timeout)
		elapsed := time.Since(start).Seconds()
		cleanup()
		// The probe reports the smallest size, as a number even for a range.
		sum := msgrjson.Summary{Engine: env.Engine.Name, Conns: o.conns, Depth: o.depth,
			Size: msgrjson.Size{Min: o.size.Min, Max: o.size.Min}, Errors: run.errors.Load(), Seconds: elapsed}
		if !printSummary(env, run, sum) {
			return 1
		}
		if outcome != 0 || run.errors.Load() != 0 {
			return 1
		}
		return 0
	}
	outcome := drive(env, run, cs, &o, start)
	elapsed := time.Since(start).Seconds()
	for _, c := range cs {
		c.stop()
	}
	cleanup()
	// The messengers are shut down: no reply comes in any more, so what
	// is still in flight is final.
	sum := msgrjson.Summary{Engine: env.Engine.Name, Conns: o.conns, Depth: o.depth, Size: o.size,
		Sent: run.sent.Load(), Received: run.received.Load(), Errors: run.errors.Load(), Seconds: elapsed,
		Unanswered: unanswered(cs)}
	if elapsed > 0 {
		sum.MsgsPerS = float64(sum.Received) / elapsed
		sum.BytesPerS = sum.MsgsPerS * o.size.Mean()
	}
	if !printSummary(env, run, sum) {
		return 1
	}
	if outcome != 0 || sum.Errors != 0 || sum.Received != sum.Sent || sum.Unanswered != 0 || (o.count > 0 && sum.Sent != o.count) {
		return 1
	}
	return 0
}

// printSummary adds the round trips to sum and prints it; false if the
// histogram could not be encoded (nothing is printed then).
func printSummary(env *Env, run *clientRun, sum msgrjson.Summary) bool {
	var err error
	if sum.RTTUs, sum.Hist, err = run.rtt.summary(); err != nil {
		env.Logf("msgr-client: %v", err)
		return false
	}
	out, _ := json.Marshal(sum)
	fmt.Fprintln(env.Stdout, string(out))
	return true
}

// handshakeProbe is --count 0: one KEEPALIVE2 round trip on every session.
// It returns 1 if one got no ACK within timeout.
func handshakeProbe(env *Env, cs []*clientConn, timeout time.Duration) int {
	outcome := 0
	for _, c := range cs {
		c.conn.SendKeepalive()
	}
	deadline := time.Now().Add(timeout)
	for _, c := range cs {
		for c.conn.LastKeepaliveAck().IsZero() && time.Now().Before(deadline) && env.Ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond) // no callback exists for a keepalive ack
		}
		if c.conn.LastKeepaliveAck().IsZero() {
			env.Logf("msgr-client: no KEEPALIVE2_ACK within %v (state %s)", timeout, c.conn.State())
			outcome = 1
		}
	}
	return outcome
}

// handshakeFirst is --handshake-first: one KEEPALIVE2 round trip on every
// session before the run, as handshakeProbe, but a session lost meanwhile
// (a refused connect) ends the wait at once instead of after timeout: the
// run could not start on it anyway. It returns 1 on failure.
func handshakeFirst(env *Env, run *clientRun, cs []*clientConn, timeout time.Duration) int {
	for _, c := range cs {
		c.conn.SendKeepalive()
	}
	deadline := time.Now().Add(timeout)
	for _, c := range cs {
		for c.conn.LastKeepaliveAck().IsZero() {
			select {
			case <-run.dead:
				env.Logf("msgr-client: a session closed before its first KEEPALIVE2_ACK")
				return 1
			case <-env.Ctx.Done():
				return 1
			default:
			}
			if !time.Now().Before(deadline) {
				env.Logf("msgr-client: no KEEPALIVE2_ACK within %v (state %s)", timeout, c.conn.State())
				return 1
			}
			time.Sleep(time.Millisecond) // no callback exists for a keepalive ack
		}
	}
	return 0
}

// drive sends (closed loop at --depth, or paced at --rate) until every
// message is answered, --duration has passed and the last replies are in
// (open loop: every send due within --duration has been sent and answered),
// a session is lost, --timeout passes without progress, or a signal. It
// returns 1 if the run ended early.
func drive(env *Env, run *clientRun, cs []*clientConn, o *clientOptions, start time.Time) int {
	done := make(chan struct{})
	defer close(done)
	var deadline <-chan time.Time
	if o.rate > 0 {
		// The pacer ends the schedule itself; what fell due before
		// --duration ended is still sent and answered.
		var end time.Time
		if o.duration > 0 {
			end = start.Add(o.duration)
		}
		for _, c := range cs {
			c.mu.Lock()
			c.paced = true
			c.mu.Unlock()
		}
		// The engine's readers need a P while the pacer sleeps: PacerP
		// adds the pacer's own on top of the engine's loops.
		sleep.PacerP()
		go openLoop(cs, o.rate, start, end, done)
	} else {
		for _, c := range cs {
			c.fill()
		}
		if o.duration > 0 {
			deadline = time.After(o.duration)
		}
	}
	idle := time.NewTimer(o.timeout)
	defer idle.Stop()
	for !finished(cs) {
		select {
		case <-run.progress:
			idle.Reset(o.timeout)
		case <-deadline:
			for _, c := range cs {
				c.stop()
			}
			deadline = nil
		case <-run.dead:
			env.Logf("msgr-client: a session closed for good (%d sent, %d received)", run.sent.Load(), run.received.Load())
			return 1
		case <-idle.C:
			env.Logf("msgr-client: no progress for %v (%d sent, %d received)", o.timeout, run.sent.Load(), run.received.Load())
			return 1
		case <-env.Ctx.Done():
			return 1
		}
	}
	return 0
}
