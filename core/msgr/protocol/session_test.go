package protocol

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Connect race (§11.2 step 8.7, §11.4): both lossless peers dial each other
// at once with messages queued; exactly one socket survives, every message
// arrives once, in order, both ways.
func TestConnectRace(t *testing.T) {
	for _, nonces := range [][2]uint32{{1, 2}, {2, 1}, {0x100, 0x1}} {
		connectRace(t, nonces, (*world).bind)
	}
}

// racePair is two lossless peers after a connect race (connectRace).
type racePair struct {
	w      *world
	a, b   *Endpoint
	ra, rb *recorder
	sa, sb *Session
}

// connectRace has two lossless peers, bound by bind (msgr1 or msgr2), dial
// each other at once with ten messages queued each way, and checks the
// outcome: exactly one connection per pair, one session per peer, every
// message once and in order both ways.
func connectRace(t *testing.T, nonces [2]uint32, bind func(*world, *Endpoint) wire.EntityAddr) racePair {
	t.Helper()
	w := newWorld(t, memengine.Options{})
	fast := func(c *Config) { c.MaxBackoff = time.Second }
	a, ra := w.endpoint("osd.1", "lossless_peer", nonces[0], fast)
	b, rb := w.endpoint("osd.2", "lossless_peer", nonces[1], fast)
	aa, ba := bind(w, a), bind(w, b)
	sa := w.connect(a, wire.EntityOSD, ba, true)
	sb := w.connect(b, wire.EntityOSD, aa, true)
	for i := 1; i <= 10; i++ {
		_ = sa.SendMessage(msg(uint64(i), 50))
		_ = sb.SendMessage(msg(uint64(i), 50))
	}
	w.runUntil(5*time.Second, func() bool { return ra.count() >= 10 && rb.count() >= 10 })
	checkInOrder(t, ra.tids(), 10)
	checkInOrder(t, rb.tids(), 10)
	if !sa.IsOpen() || !sb.IsOpen() {
		t.Fatalf("nonces %v: states %s %s", nonces, sa.State(), sb.State())
	}
	if n, m := a.C.ConnectionsOpen.Load(), b.C.ConnectionsOpen.Load(); n != 1 || m != 1 {
		t.Fatalf("nonces %v: open sockets %d and %d, want exactly one connection", nonces, n, m)
	}
	if len(a.Sessions()) != 1 || len(b.Sessions()) != 1 {
		t.Fatalf("nonces %v: more than one session per peer", nonces)
	}
	return racePair{w: w, a: a, b: b, ra: ra, rb: rb, sa: sa, sb: sb}
}

// STANDBY → RETRY_SESSION → replace (peers doc §3 b1): a lossless_peer
// connector with everything acked goes to standby on a fault and comes
// back with the same connect_seq when it has something to send.
func TestStandbyRetrySession(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	cli, _ := w.endpoint("osd.1", "lossless_peer", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	if n, _ := s.Queued(); n != 0 {
		t.Fatal("not acked")
	}
	s.mu.Lock()
	c := s.sock.c
	s.mu.Unlock()
	w.eng.InjectReset(c)
	w.settle()
	if s.State() != "standby" {
		t.Fatalf("state %s, want standby", s.State())
	}
	dials := cli.C.Connects.Load()
	_ = s.SendMessage(msg(2, 10))
	w.settle()
	if cli.C.Connects.Load() != dials+1 {
		t.Fatal("no redial from standby")
	}
	checkInOrder(t, rs.tids(), 2)
	// cs 1 (same) → RETRY_SESSION 2 → replace → SEQ cs 3.
	if cs, _, _ := s.SeqState(); cs != 3 {
		t.Fatalf("connect_seq %d, want 3", cs)
	}
}

// A server restart: the client reconnects with cs>0, gets RESETSESSION,
// resets and opens with cs 0 (peers doc §3 f2).
func TestServerRestartResetSession(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	srv.Stop()
	w.settle()
	srv2, rs2 := w.endpoint("osd.0", "stateful_server", 1, nil)
	if err := srv2.Bind(addr.AddrPort().String()); err != nil {
		t.Fatal(err)
	}
	// Queued before the reset: RESETSESSION discards it, as Ceph does.
	_ = s.SendMessage(msg(2, 10))
	w.runUntil(5*time.Second, s.IsOpen)
	_ = s.SendMessage(msg(3, 10))
	w.settle()
	if got := rs2.tids(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("new server got %v", got)
	}
	if cs, out, _ := s.SeqState(); cs != 1 || out != 1 {
		t.Fatalf("after reset cs=%d out_seq=%d, want 1 and 1", cs, out)
	}
	found := false
	for _, e := range rc.eventList() {
		found = found || e == "remote_reset"
	}
	if !found {
		t.Fatalf("events %v", rc.eventList())
	}
}

// Lossy session: a fault closes it and reports a reset (§13).
func TestLossyFaultCloses(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	if !s.IsOpen() || !s.Lossy() {
		t.Fatal(s.State())
	}
	s.mu.Lock()
	c := s.sock.c
	s.mu.Unlock()
	w.eng.InjectReset(c)
	w.settle()
	if s.State() != "closed" {
		t.Fatal(s.State())
	}
	ev := rc.eventList()
	if ev[len(ev)-1] != "reset" {
		t.Fatalf("events %v", ev)
	}
	if len(cli.Sessions()) != 0 {
		t.Fatal("closed session still registered")
	}
}

// A lossless client adopts the server's LOSSY flag (§11.1 step 5).
func TestAdoptLossyFlag(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("mon.0", "stateless_server", 0, nil)
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityMon, addr, true)
	w.settle()
	if !s.IsOpen() || !s.Lossy() {
		t.Fatalf("state %s lossy %v", s.State(), s.Lossy())
	}
}

// MarkDown closes the socket and the session; CLOSE from the peer too.
func TestMarkDownAndClose(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	s.MarkDown()
	w.settle()
	if s.State() != "closed" || cli.C.ConnectionsOpen.Load() != 0 {
		t.Fatal(s.State())
	}
	if err := s.SendMessage(msg(1, 1)); err != ErrSessionClosed {
		t.Fatal(err)
	}
	r, _ := openRaw(t, w, addr, 9, 1, 0, 0)
	r.write(t, []byte{byte(wire.TagClose)})
	w.settle()
	if !r.isClosed() {
		t.Fatal("CLOSE must close")
	}
	ev := rs.eventList()
	if ev[len(ev)-1] != "reset" {
		t.Fatalf("events %v", ev)
	}
}

// Throttles (§4 of the issue): with a byte throttle and a stalled
// dispatcher, the reader pauses; held bytes never exceed limit + one
// message; releasing resumes reading at once; nothing is lost.
func TestThrottlePausesAndResumes(t *testing.T) {
	w := newWorld(t, memengine.Options{PipeBufferSize: 4096})
	const limit = 10000
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
		c.DefaultPolicy.ThrottleBytes = limit
		c.DefaultPolicy.ThrottleMessages = 100
	})
	rs.hold = true
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	const n, size = 60, 3000
	for i := 1; i <= n; i++ {
		_ = s.SendMessage(msg(uint64(i), size))
	}
	w.settle()
	_, bytesT := srv.PolicyThrottles(wire.EntityClient)
	if got := rs.count(); got != limit/size {
		t.Fatalf("delivered %d before release, want %d (limit %d)", got, limit/size, limit)
	}
	if srv.C.ThrottledReads.Load() == 0 {
		t.Fatal("reader never paused")
	}
	for rs.count() < n {
		before := rs.count()
		if rs.release() == 0 {
			t.Fatalf("stalled at %d", before)
		}
		w.settle()
		if st := bytesT.Stats(); st.Peak > limit {
			t.Fatalf("held %d > limit %d", st.Peak, limit)
		}
		if rs.count() == before {
			t.Fatal("release did not resume reading")
		}
	}
	rs.release()
	checkInOrder(t, rs.tids(), n)
	if st := bytesT.Stats(); st.Current != 0 || st.Waits == 0 {
		t.Fatalf("%+v", st)
	}
	db, dm := srv.DispatchThrottles()
	if db.Current() != 0 || dm.Current() != 0 {
		t.Fatal("dispatch throttle leaked")
	}
}

// One message larger than the byte limit passes alone (documented).
func TestThrottleOversizedAlone(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.DefaultPolicy.ThrottleBytes = 1000 })
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 5000))
	_ = s.SendMessage(msg(2, 10))
	w.settle()
	checkInOrder(t, rs.tids(), 2)
}

// Out-queue limit: SendMessage fails at the limit, queues nothing and is
// counted (msgr_out_queue_full_total).
func TestOutQueueLimit(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	cli, _ := w.endpoint("client.1", "lossless_client", 2, func(c *Config) { c.MaxOutQueueMessages = 3 })
	s := w.connect(cli, wire.EntityOSD, wire.NewEntityAddr(mustAP("127.0.0.1:9"), 0), true)
	for i := range 3 {
		if err := s.SendMessage(msg(uint64(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendMessage(msg(9, 1)); err != ErrOutQueueFull {
		t.Fatal(err)
	}
	if n := cli.C.OutQueueFull.Load(); n != 1 {
		t.Fatalf("OutQueueFull %d, want 1", n)
	}
}

// Large messages (bigger than the read buffer and the write batch) are
// accumulated and delivered intact.
func TestLargeMessage(t *testing.T) {
	w := newWorld(t, memengine.Options{PipeBufferSize: 16 << 10})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	rs.echo = true
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	big := msg(1, 3<<20)
	big.Front = []byte("front")
	big.Middle = make([]byte, 70000)
	_ = s.SendMessage(big)
	w.settle()
	checkInOrder(t, rc.tids(), 1)
	got := rc.msgs[0]
	if len(got.Data) != 3<<20 || string(got.Front) != "front" || string(got.Data[:100]) != string(big.Data[:100]) ||
		got.Data[3<<20-1] != big.Data[3<<20-1] {
		t.Fatal("payload differs")
	}
}

// Two bound lossless peers, traffic both ways, socket failures injected on
// both: both sides reconnect after a fault (an accepted lossless_peer
// session redials too), the races resolve, every message arrives once, in
// order, both ways.
func TestLosslessPeersInjectedBothWays(t *testing.T) {
	for seed := range 3 {
		w := newWorld(t, memengine.Options{PipeBufferSize: 2048})
		inj := func(c *Config) {
			c.InjectSocketFailures = 15
			c.InitialBackoff = 10 * time.Millisecond
			c.MaxBackoff = 200 * time.Millisecond
		}
		a, ra := w.endpoint("osd.1", "lossless_peer", uint32(10+seed), inj)
		b, rb := w.endpoint("osd.2", "lossless_peer", uint32(20-seed), inj)
		aa, ba := w.bind(a), w.bind(b)
		sa := w.connect(a, wire.EntityOSD, ba, true)
		const n = 200
		for i := 1; i <= n/2; i++ {
			_ = sa.SendMessage(msg(uint64(i), 300))
		}
		w.settle()
		sb := w.connect(b, wire.EntityOSD, aa, true) // the registered (accepted) session
		for i := 1; i <= n; i++ {
			_ = sb.SendMessage(msg(uint64(i), 300))
		}
		for i := n/2 + 1; i <= n; i++ {
			_ = sa.SendMessage(msg(uint64(i), 300))
		}
		w.runUntil(60*time.Second, func() bool { return ra.count() >= n && rb.count() >= n })
		checkInOrder(t, rb.tids(), n)
		checkInOrder(t, ra.tids(), n)
		if len(a.Sessions()) != 1 || len(b.Sessions()) != 1 {
			t.Fatalf("sessions %d %d", len(a.Sessions()), len(b.Sessions()))
		}
		t.Logf("seed %d: injected %d+%d reconnects %d+%d", seed, a.C.InjectedFailures.Load(), b.C.InjectedFailures.Load(),
			a.C.Reconnects.Load(), b.C.Reconnects.Load())
	}
}

func TestProtocolVersions(t *testing.T) { // §10
	tests := []struct {
		my, peer  wire.EntityType
		connector bool
		want      uint32
	}{
		{wire.EntityClient, wire.EntityMon, true, 15},
		{wire.EntityClient, wire.EntityOSD, true, 24},
		{wire.EntityClient, wire.EntityMDS, true, 32},
		{wire.EntityClient, wire.EntityMgr, true, 0},
		{wire.EntityMon, wire.EntityClient, false, 15},
		{wire.EntityMon, wire.EntityOSD, false, 15},
		{wire.EntityOSD, wire.EntityClient, false, 24},
		{wire.EntityMon, wire.EntityMon, true, 13},
		{wire.EntityOSD, wire.EntityOSD, false, 10},
		{wire.EntityMDS, wire.EntityMDS, true, 36},
		{wire.EntityClient, wire.EntityClient, true, 0},
	}
	for _, tc := range tests {
		if got := ProtocolVersion(tc.my, tc.peer, tc.connector); got != tc.want {
			t.Errorf("%v→%v connector=%v: %d, want %d", tc.my, tc.peer, tc.connector, got, tc.want)
		}
	}
}

// A server session left in STANDBY by a peer that never returns is
// forgotten after StandbyTimeout; the peer coming back later is told
// RESETSESSION.
func TestStandbyExpiry(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.StandbyTimeout = time.Minute })
	addr := w.bind(srv)
	r, _ := openRaw(t, w, addr, 5, 1, 0, 0)
	_ = r.c.Close()
	w.settle()
	if ss := srv.Sessions(); len(ss) != 1 || ss[0].State() != "standby" {
		t.Fatal("no standby session")
	}
	w.advance(time.Minute)
	if len(srv.Sessions()) != 0 {
		t.Fatal("standby session not forgotten")
	}
	r2 := w.dialRaw(addr)
	if rep := rawClientHello(t, w, r2, clientAddr(5), clientConnect(2, 2)); rep.Tag != wire.TagResetSession {
		t.Fatalf("%+v", rep)
	}
}
