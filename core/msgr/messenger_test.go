package msgr_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

func realEngine(t testing.TB) engine.Engine {
	e := memengine.New(memengine.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

func TestEchoOverMessenger(t *testing.T) {
	got := msgrtest.RunEcho(t, realEngine(t), 500, 1000, 16, 20*time.Second)
	for i, tid := range got {
		if tid != uint64(i+1) {
			t.Fatalf("reply %d has tid %d", i, tid)
		}
	}
}

// gate is a dispatcher that blocks until opened and records order.
type gate struct {
	msgrtest.Base
	mu      sync.Mutex
	open    chan struct{}
	order   []uint64
	prios   []uint16
	n       chan struct{}
	entered chan struct{}
}

func (g *gate) Dispatch(m *msgr.Message) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
	g.mu.Lock()
	g.order = append(g.order, m.Tid)
	g.prios = append(g.prios, m.Priority)
	g.mu.Unlock()
	g.n <- struct{}{}
}

// The dispatch queue serves higher priorities first and keeps FIFO order
// within a priority (Ceph's DispatchQueue).
func TestDispatchPriorities(t *testing.T) {
	eng := realEngine(t)
	g := &gate{open: make(chan struct{}), n: make(chan struct{}, 100), entered: make(chan struct{}, 1)}
	srv, err := msgr.New(eng, msgr.Config{Name: "osd.0", Policy: "stateful_server"})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Start(g)
	if err := srv.Bind("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	cli, _ := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true})
	_ = cli.Start(msgrtest.Base{})
	defer cli.Shutdown(context.Background())
	conn, _ := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
	// The first message blocks the dispatcher; the rest queue up.
	_ = conn.SendMessage(&msgr.Message{Type: 1, Tid: 0, Priority: wire.PrioLow})
	<-g.entered
	prios := []uint16{wire.PrioLow, wire.PrioHigh, wire.PrioDefault, wire.PrioHigh, wire.PrioLow}
	for i, p := range prios {
		_ = conn.SendMessage(&msgr.Message{Type: 1, Tid: uint64(i + 1), Priority: p})
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.DispatchQueueLen() < len(prios) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting for the network, not for a result
	}
	close(g.open)
	for range len(prios) + 1 {
		<-g.n
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	want := []uint64{0, 2, 4, 3, 1, 5}
	for i := range want {
		if g.order[i] != want[i] {
			t.Fatalf("dispatch order %v (prios %v), want %v", g.order, g.prios, want)
		}
	}
}

// Two messengers on one registry: their counters are summed.
func TestMetricsShared(t *testing.T) {
	eng := realEngine(t)
	reg := prometheus.NewRegistry()
	srv := msgrtest.EchoServer(t, eng, msgr.Config{Registry: reg})
	var conns []*msgr.Connection
	r := &collect{ch: make(chan uint64, 10)}
	for i := range 2 {
		cli, err := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		_ = cli.Start(r)
		defer cli.Shutdown(context.Background())
		c, _ := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
		conns = append(conns, c)
		_ = c.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: uint64(i), Data: make([]byte, 10)})
	}
	<-r.ch
	<-r.ch
	n, err := testutil.GatherAndCount(reg, "msgr_send_messages_total", "msgr_active_connections")
	if err != nil || n != 2 {
		t.Fatalf("count %d err %v", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "msgr_send_messages_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 4 {
				t.Fatalf("sent %v, want 4 (2 requests + 2 replies)", v)
			}
		}
	}
	var sb strings.Builder
	for _, mf := range mfs {
		sb.WriteString(mf.GetName() + " ")
	}
	for _, name := range []string{"msgr_recv_bytes_total", "msgr_throttle_current", "msgr_faults_total", "msgr_reconnects_total"} {
		if !strings.Contains(sb.String(), name) {
			t.Errorf("missing %s in %s", name, sb.String())
		}
	}
}

type collect struct {
	msgrtest.Base
	ch chan uint64
}

func (c *collect) CanFastDispatch(*msgr.Message) bool { return true }
func (c *collect) FastDispatch(m *msgr.Message)       { c.ch <- m.Tid }

// A slow dispatcher with a small dispatch byte throttle: the bytes held by
// undispatched messages never exceed the limit plus one message, and
// nothing is lost.
func TestDispatchThrottleBound(t *testing.T) {
	eng := realEngine(t)
	const limit, size, n = 20000, 3000, 200
	srv, _ := msgr.New(eng, msgr.Config{Name: "osd.0", Policy: "stateful_server", DispatchThrottleBytes: limit})
	slow := &slowDisp{delay: 200 * time.Microsecond, done: make(chan struct{})}
	_ = srv.Start(slow)
	_ = srv.Bind("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	cli, _ := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true})
	_ = cli.Start(msgrtest.Base{})
	defer cli.Shutdown(context.Background())
	conn, _ := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
	for i := 1; i <= n; i++ {
		if err := conn.SendMessage(&msgr.Message{Type: 1, Tid: uint64(i), Data: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
	dbytes, _ := srv.Endpoint().DispatchThrottles()
	slow.n = n
	<-slow.done
	if st := dbytes.Stats(); st.Peak > limit+size || st.Waits == 0 {
		t.Fatalf("peak %d (limit %d + %d), waits %d", st.Peak, limit, size, st.Waits)
	}
	if slow.bad {
		t.Fatal("out of order")
	}
}

type slowDisp struct {
	msgrtest.Base
	delay time.Duration
	n     int
	got   int
	last  uint64
	bad   bool
	done  chan struct{}
}

func (s *slowDisp) Dispatch(m *msgr.Message) {
	time.Sleep(s.delay)
	if m.Tid != s.last+1 {
		s.bad = true
	}
	s.last = m.Tid
	s.got++
	if s.got == 200 {
		close(s.done)
	}
}

func BenchmarkEchoRoundTrip(b *testing.B) {
	msgrtest.BenchEcho(b, realEngine(b), 64, 1)
}

func BenchmarkEchoPipelined(b *testing.B) {
	msgrtest.BenchEcho(b, realEngine(b), 4096, 64)
}

// BenchmarkEchoLossy runs the same lossy echo over msgr1 and msgr2, side
// by side, on the in-memory engine: what the v2 framing costs per
// message (allocations are the steady figure; times vary with the host).
func BenchmarkEchoLossy(b *testing.B) {
	for _, p := range []struct {
		name string
		v2   bool
	}{{"v1", false}, {"v2", true}} {
		b.Run(p.name+"/RoundTrip", func(b *testing.B) { msgrtest.BenchEchoLossy(b, realEngine(b), 64, 1, p.v2) })
		b.Run(p.name+"/Pipelined", func(b *testing.B) { msgrtest.BenchEchoLossy(b, realEngine(b), 4096, 64, p.v2) })
		b.Run(p.name+"/Large", func(b *testing.B) { msgrtest.BenchEchoLossy(b, realEngine(b), 256<<10, 4, p.v2) })
	}
}

// countDisp signals every dispatched message.
type countDisp struct {
	msgrtest.Base
	ch chan struct{}
}

func (c *countDisp) Dispatch(*msgr.Message) { c.ch <- struct{}{} }

// BenchmarkThrottleWakeup: a message throttle of 1 means every message's
// read waits for the previous one's dispatch to release capacity; the
// per-message time is dominated by release → waiter callback on the loop
// → ResumeRead → next dispatch (no polling interval, unlike Ceph's 1 ms).
func BenchmarkThrottleWakeup(b *testing.B) {
	eng := realEngine(b)
	srv, _ := msgr.New(eng, msgr.Config{Name: "osd.0", Policy: "stateful_server", ThrottleMessages: 1})
	d := &countDisp{ch: make(chan struct{}, 1024)}
	_ = srv.Start(d)
	_ = srv.Bind("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	cli, _ := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true})
	_ = cli.Start(msgrtest.Base{})
	defer cli.Shutdown(context.Background())
	conn, _ := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
	_ = conn.SendMessage(&msgr.Message{Type: 1})
	<-d.ch
	b.ResetTimer()
	sent := 0
	for i := 0; i < b.N; i++ {
		for sent < b.N && sent-i < 512 {
			if err := conn.SendMessage(&msgr.Message{Type: 1, Tid: uint64(sent)}); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		<-d.ch
	}
	b.StopTimer()
	if srv.Endpoint().C.ThrottledReads.Load() == 0 && b.N > 10 {
		b.Fatal("the throttle never made the reader wait")
	}
}
