package protocol

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// runUntil advances the fake clock in steps until done or the budget ends.
func (w *world) runUntil(budget time.Duration, done func() bool) {
	for step := time.Duration(0); step < budget && !done(); step += 50 * time.Millisecond {
		w.advance(50 * time.Millisecond)
	}
}

// Lossless echo under injected socket failures on both sides: every
// message and every reply arrives exactly once, in order (§13 resend,
// duplicate drop, SEQ exchange, reconnect with connect_seq+1, replace).
func TestInjectedFailuresLosslessEcho(t *testing.T) {
	for _, seed := range []int{1, 2, 3} {
		srv, cli, _ := injectedEcho(t, seed, (*world).bind)
		if srv.C.InjectedFailures.Load()+cli.C.InjectedFailures.Load() == 0 {
			t.Fatal("no failure was injected")
		}
	}
}

// injectedEcho runs a lossless echo of 300 messages (sizes from seed)
// between a server and a client bound by bind (msgr1 or msgr2), both
// injecting a socket failure every 20 operations, and checks that every
// message and every reply arrived exactly once, in order.
func injectedEcho(t *testing.T, seed int, bind func(*world, *Endpoint) wire.EntityAddr) (srv, cli *Endpoint, s *Session) {
	t.Helper()
	w := newWorld(t, memengine.Options{PipeBufferSize: 4096})
	inj := func(c *Config) { c.InjectSocketFailures = 20 }
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, inj)
	rs.echo = true
	addr := bind(w, srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, inj)
	s = w.connect(cli, wire.EntityOSD, addr, true)
	const n = 300
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for i := 1; i <= n; i++ {
		if err := s.SendMessage(msg(uint64(i), rng.IntN(3000))); err != nil {
			t.Fatal(err)
		}
	}
	w.runUntil(120*time.Second, func() bool { return rc.count() >= n })
	checkInOrder(t, rs.tids(), n)
	checkInOrder(t, rc.tids(), n)
	t.Logf("seed %d: injected %d+%d, reconnects %d, dups dropped %d+%d, resent %d+%d", seed,
		srv.C.InjectedFailures.Load(), cli.C.InjectedFailures.Load(), cli.C.Reconnects.Load(),
		srv.C.DuplicatesDropped.Load(), cli.C.DuplicatesDropped.Load(), srv.C.Resent.Load(), cli.C.Resent.Load())
	return srv, cli, s
}

// A reset in the middle of a message (engine fault after N bytes): the
// unacked messages are resent with their original seq and delivered once.
func TestResetMidMessageResends(t *testing.T) {
	resets := 0
	w := newWorld(t, memengine.Options{Fault: func(c engine.Conn, dialer bool) memengine.FaultPlan {
		if dialer && resets < 3 {
			resets++
			return memengine.FaultPlan{After: int64(2000 + 1500*resets), Action: memengine.FaultReset}
		}
		return memengine.FaultPlan{}
	}})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	for i := 1; i <= 50; i++ {
		_ = s.SendMessage(msg(uint64(i), 700))
	}
	w.runUntil(10*time.Second, func() bool { return rs.count() >= 50 })
	checkInOrder(t, rs.tids(), 50)
	cs, _, _ := s.SeqState()
	// Each reconnect sends old+1 and the server answers old+2 (§11.3).
	if resets != 3 || cs != 1+3*2 {
		t.Fatalf("resets %d, connect_seq %d (want 3 resets, cs 7)", resets, cs)
	}
	if cli.C.Resent.Load() == 0 {
		t.Fatal("nothing was resent")
	}
}

// Refused connect: lossless back-off 0.2 s doubling (§13, peers §3 g4).
func TestBackoffOnRefused(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	target := wire.NewEntityAddr(mustAP("127.0.0.1:9"), 0)
	s := w.connect(cli, wire.EntityOSD, target, true)
	_ = s.SendMessage(msg(1, 1))
	w.settle()
	want := []struct {
		after time.Duration
		dials uint64
	}{{199 * time.Millisecond, 1}, {time.Millisecond, 2}, {399 * time.Millisecond, 2}, {time.Millisecond, 3}, {800 * time.Millisecond, 4}}
	for i, st := range want {
		w.advance(st.after)
		if got := cli.C.Connects.Load(); got != st.dials {
			t.Fatalf("step %d: %d dials, want %d", i, got, st.dials)
		}
	}
	if s.State() != "backoff" {
		t.Fatal(s.State())
	}
}

// Lossy client refused: the session closes and HandleRefused fires.
func TestLossyRefused(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, wire.NewEntityAddr(mustAP("127.0.0.1:9"), 0), true)
	w.settle()
	if s.State() != "closed" || len(rc.eventList()) != 1 || rc.eventList()[0] != "refused" {
		t.Fatalf("state %s events %v", s.State(), rc.eventList())
	}
	if err := s.SendMessage(msg(1, 1)); err != ErrSessionClosed {
		t.Fatal(err)
	}
}

// Handshake timeout: a server that never answers; the connector faults after
// HandshakeTimeout and redials after the initial back-off (§13 timers).
func TestHandshakeTimeout(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	var peers []*raw
	l, err := w.eng.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { r := &raw{}; peers = append(peers, r); return r })
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := w.endpoint("client.1", "lossless_client", 2, func(c *Config) { c.HandshakeTimeout = time.Second })
	w.connect(cli, wire.EntityOSD, wire.AddrFromNet(l.Addr(), 0), true)
	w.settle()
	w.advance(999 * time.Millisecond)
	if len(peers) != 1 || peers[0].isClosed() {
		t.Fatal("closed early")
	}
	w.advance(time.Millisecond)
	if !peers[0].isClosed() {
		t.Fatal("not closed at the timeout")
	}
	w.advance(200 * time.Millisecond)
	if len(peers) != 2 {
		t.Fatalf("%d connections, want a redial after 0.2 s", len(peers))
	}
}

// Injected read delays hold delivery back by exactly the delay.
func TestInjectDelay(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
		c.InjectDelay = 100 * time.Millisecond
		c.InjectDelayEvery = 1
	})
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	for i := 0; i < 20 && rs.count() == 0; i++ {
		w.advance(100 * time.Millisecond)
	}
	checkInOrder(t, rs.tids(), 1)
	if w.clk.Now().Sub(memengine.FakeEpoch) < 200*time.Millisecond {
		t.Fatal("delivered without the injected delays")
	}
}

// An OPENED socket without traffic for IdleTimeout faults; a lossless
// client reconnects (ms_connection_idle_timeout).
func TestIdleTimeout(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.IdleTimeout = 10 * time.Second })
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, func(c *Config) { c.IdleTimeout = -1 })
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 1))
	w.settle()
	w.advance(9 * time.Second)
	s.SendKeepalive() // traffic keeps it alive
	w.settle()
	w.advance(9 * time.Second)
	if srv.C.SessionsOpened.Load() != 1 || cli.C.Faults.Load() != 0 {
		t.Fatal("faulted while active")
	}
	w.advance(12 * time.Second)
	if cli.C.Faults.Load() == 0 {
		t.Fatal("idle socket not closed")
	}
	if srv.C.BadInput.Load() != 0 {
		t.Fatal("idle is not bad input")
	}
}

func TestSendTooLarge(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	cli, _ := w.endpoint("client.1", "lossless_client", 2, func(c *Config) { c.MaxMessageBytes = 100 })
	s := w.connect(cli, wire.EntityOSD, wire.NewEntityAddr(mustAP("127.0.0.1:9"), 0), true)
	if err := s.SendMessage(msg(1, 101)); err != ErrMessageTooLarge {
		t.Fatal(err)
	}
}

// logLines collects an endpoint's log lines (Config.Logf).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) config(t *testing.T) func(*Config) {
	return func(c *Config) {
		c.Logf = func(f string, a ...any) {
			l.mu.Lock()
			l.lines = append(l.lines, fmt.Sprintf(f, a...))
			l.mu.Unlock()
			t.Logf(f, a...)
		}
	}
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// fillExecute takes the engine's only Execute slot (ExecuteQueueLimit 1)
// with a no-op on s's socket; with the fake clock nothing drains it
// before the next settle.
func fillExecute(t *testing.T, s *Session) {
	t.Helper()
	s.mu.Lock()
	c := s.sock.c
	s.mu.Unlock()
	if err := c.Execute(func() {}); err != nil {
		t.Fatalf("filling the Execute queue: %v", err)
	}
}

// At the loop's Execute limit a socket's flush or throttle grant is not
// run by other means (no zero-delay timer): the socket faults with an
// error wrapping engine.ErrExecuteQueueFull, and the lossless session
// reconnects and resends, so nothing stalls and every message arrives
// once, in order (spec/messenger.md, "Limits and backpressure").
func TestExecuteQueueFullFaultsLossless(t *testing.T) {
	full := engine.ErrExecuteQueueFull.Error()
	t.Run("flush", func(t *testing.T) {
		w := newWorld(t, memengine.Options{Config: engine.Config{ExecuteQueueLimit: 1}})
		var logs logLines
		srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
		addr := w.bind(srv)
		cli, _ := w.endpoint("client.1", "lossless_client", 2, logs.config(t))
		s := w.connect(cli, wire.EntityOSD, addr, true)
		_ = s.SendMessage(msg(1, 100))
		w.settle()
		if rs.count() != 1 {
			t.Fatalf("delivered %d before the limit, want 1", rs.count())
		}
		fillExecute(t, s)
		const n = 50
		for i := 2; i <= n; i++ {
			if err := s.SendMessage(msg(uint64(i), 700)); err != nil {
				t.Fatal(err)
			}
		}
		w.runUntil(30*time.Second, func() bool { return rs.count() >= n })
		checkInOrder(t, rs.tids(), n)
		if logs.count(full) == 0 || cli.C.Reconnects.Load() == 0 {
			t.Fatalf("flush refused: %d log lines naming %q, %d reconnects; want a fault and a reconnect",
				logs.count(full), full, cli.C.Reconnects.Load())
		}
	})
	t.Run("throttle grant", func(t *testing.T) {
		w := newWorld(t, memengine.Options{Config: engine.Config{ExecuteQueueLimit: 1}, PipeBufferSize: 4096})
		var logs logLines
		const limit, n, size = 10000, 20, 3000
		srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
			logs.config(t)(c)
			c.DefaultPolicy.ThrottleBytes = limit
		})
		rs.hold = true
		addr := w.bind(srv)
		cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
		s := w.connect(cli, wire.EntityOSD, addr, true)
		for i := 1; i <= n; i++ {
			_ = s.SendMessage(msg(uint64(i), size))
		}
		w.settle()
		if srv.C.ThrottledReads.Load() == 0 {
			t.Fatal("reader never paused on the throttle")
		}
		fillExecute(t, s)
		rs.release() // frees capacity: the grant's Execute is refused
		w.runUntil(30*time.Second, func() bool {
			rs.release()
			return rs.count() >= n
		})
		rs.release()
		checkInOrder(t, rs.tids(), n)
		if logs.count(full) == 0 {
			t.Fatalf("throttle grant refused: no log line naming %q", full)
		}
		_, bytesT := srv.PolicyThrottles(wire.EntityClient)
		if cur := bytesT.Stats().Current; cur != 0 {
			t.Fatalf("throttle holds %d bytes after all were released: the refused grant leaked", cur)
		}
	})
}
