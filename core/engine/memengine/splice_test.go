package memengine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// relayFixture: client -> front (accepted) splices into back (dialled) ->
// sink (accepted on a second listener).
type relayFixture struct {
	*fixture
	client, sink, back *probe
	c, front, bc       engine.Conn
}

func newRelayFixture(t *testing.T, opts Options, sinkPaused bool) *relayFixture {
	r := &relayFixture{}
	r.fixture = newFixture(t, opts, func() *probe { return &probe{name: "front"} })
	r.sink = &probe{name: "sink", log: r.log}
	if sinkPaused {
		r.sink.onOpen = func(c engine.Conn) { c.PauseRead() }
	}
	sl, err := r.e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return r.sink })
	if err != nil {
		t.Fatal(err)
	}
	r.client = &probe{}
	r.c = r.dial(r.client)
	r.front = r.server.conn
	r.back = &probe{name: "back", log: r.log}
	r.bc, err = r.e.Dial(sl.Addr().String(), r.back, engine.DialOptions{Near: r.front})
	if err != nil {
		t.Fatal(err)
	}
	r.e.Settle()
	r.log.take()
	return r
}

// A limited splice relays exactly limit bytes, including bytes the handler
// left unconsumed, then hands the rest back to OnData.
func TestSpliceLimit(t *testing.T) {
	r := newRelayFixture(t, Options{}, false)
	r.write(r.c, "0123456789")
	r.e.Settle()
	r.expect(`front data "0123456789" consumed 10`)
	r.write(r.c, "abcdefgh")
	_ = r.front.Execute(func() {
		err := r.front.(engine.Splicer).Splice(r.bc, 5, func(n int64, err error) {
			r.log.add("done %d %v", n, err)
		})
		if err != nil {
			r.log.add("splice: %v", err)
		}
	})
	r.e.Settle()
	r.expect("done 5 <nil>", `front data "fgh" consumed 3`, `sink data "abcde" consumed 5`)
}

// Splicing to EOF reports EOF through done, not OnReadEOF; a full
// destination socket stops the relay until it drains, and the relay sets
// off no OnDrained on the destination.
func TestSpliceBackpressureAndEOF(t *testing.T) {
	r := newRelayFixture(t, Options{
		PipeBufferSize: 4,
		Config:         engine.Config{OutQueueLimit: 8, OutQueueHighWater: 6, OutQueueLowWater: 2},
	}, true)
	var n int64 = -1
	if err := r.front.(engine.Splicer).Splice(r.bc, -1, func(got int64, err error) {
		n = got
		r.log.add("done %d %v", got, err)
		_ = r.bc.CloseWrite()
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.front.(engine.Splicer).Splice(r.bc, -1, func(int64, error) {}); !errors.Is(err, ErrSpliceBusy) {
		t.Fatalf("second concurrent Splice: %v", err)
	}
	payload := "abcdefghijklmnopqrstuvwxyz"
	// Sink paused: 4 in the sink's pipe (back's socket, filled by the
	// relay), 4 in front's pipe, 8 in the client's out-queue. The rest is
	// refused. The relay queues nothing on back.
	if err := r.c.Write([]byte(payload[:24])); !errors.Is(err, engine.ErrOutQueueFull) {
		t.Fatalf("write 24 into a stalled relay: %v", err)
	}
	for i := 0; i < len(payload); i += 2 {
		if err := r.c.Write([]byte(payload[i : i+2])); err != nil {
			if !errors.Is(err, engine.ErrOutQueueFull) {
				t.Fatal(err)
			}
			if i != 16 {
				t.Fatalf("relay chain held %d bytes, want 16", i)
			}
			break
		}
		r.e.Settle()
	}
	if r.bc.OutQueued() != 0 || r.c.OutQueued() != 8 {
		t.Fatalf("queues: back %d, client %d; want 0 and 8", r.bc.OutQueued(), r.c.OutQueued())
	}
	r.expect("client drained queued=0") // owed by the first, refused write
	_ = r.c.Write([]byte("yz"))         // refused write: the client is owed OnDrained
	_ = r.c.CloseWrite()
	r.sink.conn.ResumeRead()
	r.e.Settle()
	if got := r.sink.received(); got != payload[:16] {
		t.Fatalf("sink got %q", got)
	}
	if n != 16 || r.back.drained != 0 || r.front.(*conn).eofDelivered != true {
		t.Fatalf("done n=%d, back OnDrained %d", n, r.back.drained)
	}
	for _, ev := range r.log.take() {
		if ev == "front eof" {
			t.Fatal("OnReadEOF after the splice reached EOF")
		}
	}
}

// A destination that closes ends the splice with ErrClosed.
func TestSpliceDestinationClosed(t *testing.T) {
	r := newRelayFixture(t, Options{}, false)
	_ = r.front.(engine.Splicer).Splice(r.bc, -1, func(n int64, err error) {
		r.log.add("done %d closed=%v", n, errors.Is(err, engine.ErrClosed))
	})
	r.write(r.c, "abc")
	r.e.Settle()
	r.expect(`sink data "abc" consumed 3`)
	_ = r.bc.Close()
	r.e.Settle()
	r.expect("back close <nil>", "sink eof", "done 3 closed=true")
}

// Engines on one Network reach each other; a private Network is isolated.
// One FakeClock and Network.Settle keep the pair deterministic.
func TestNetworkAcrossEngines(t *testing.T) {
	clk := NewFakeClock(time.Time{})
	netw := NewNetwork()
	server := New(Options{Clock: clk, Network: netw})
	client := New(Options{Clock: clk, Network: netw})
	loner := New(Options{Clock: clk})
	for _, e := range []*Engine{server, client, loner} {
		t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	}
	log := &eventLog{}
	l, err := server.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &probe{name: "server", log: log, onData: func(c engine.Conn, in []byte) int {
			_ = c.Write(in)
			return len(in)
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.Dial(l.Addr().String(), &probe{name: "client", log: log}, engine.DialOptions{})
	_ = c.Write([]byte("hi"))
	c.AfterFunc(time.Second, func() { log.add("client timer") })
	netw.Settle()
	clk.Advance(time.Second)
	if got, want := log.String(), "client open\nserver open\nserver data \"hi\" consumed 2\nclient data \"hi\" consumed 2\nclient timer"; got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	p := &probe{name: "loner", log: &eventLog{}}
	_, _ = loner.Dial(l.Addr().String(), p, engine.DialOptions{})
	loner.Settle()
	if !p.closed || p.opened {
		t.Fatal("an engine on another Network reached the listener")
	}
	// Shutting the server engine down looks like a close to the client.
	if err := server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	netw.Settle()
	if !contains(log.take(), "client eof") {
		t.Fatal("client did not read EOF when the server engine shut down")
	}
}

func contains(events []string, want string) bool {
	for _, ev := range events {
		if ev == want {
			return true
		}
	}
	return false
}

// Bytes queued on dst before the splice go first, writes to dst during it
// wait until it ends, and PauseRead does not stop it (spec section 9).
func TestSpliceOrdering(t *testing.T) {
	r := newRelayFixture(t, Options{PipeBufferSize: 4}, false)
	r.write(r.bc, "head|")
	r.e.Settle()
	r.sink.conn.PauseRead()
	_ = r.front.(engine.Splicer).Splice(r.bc, 6, func(n int64, err error) {
		r.log.add("done %d %v", n, err)
		_ = r.bc.CloseWrite()
	})
	r.front.PauseRead()
	r.write(r.c, "spliced") // 4 relayed into the sink's full pipe, then it waits
	r.e.Settle()
	r.write(r.bc, "|tail") // during the splice: waits for it to end
	r.sink.conn.ResumeRead()
	r.e.Settle()
	if got := r.sink.received(); got != "head|splice|tail" {
		t.Fatalf("sink got %q", got)
	}
	r.front.ResumeRead()
	r.e.Settle()
	// The 4-byte pipe cuts every delivery to 4 bytes.
	r.expect(`sink data "head" consumed 4`, `sink data "|" consumed 1`,
		`sink data "spli" consumed 4`, "done 6 <nil>", `sink data "ce|t" consumed 4`,
		`sink data "ail" consumed 3`, "sink eof", `front data "d" consumed 1`)
}

// A source closed while splicing reports only OnClose; the destination's
// queued bytes are released.
func TestSpliceSourceClosed(t *testing.T) {
	r := newRelayFixture(t, Options{}, false)
	_ = r.front.(engine.Splicer).Splice(r.bc, -1, func(n int64, err error) {
		r.log.add("done %d %v", n, err)
	})
	r.write(r.c, "abc")
	r.e.Settle()
	r.write(r.bc, "after")
	_ = r.front.Close()
	r.e.Settle()
	if got := r.sink.received(); got != "abcafter" {
		t.Fatalf("sink got %q", got)
	}
	for _, ev := range r.log.take() {
		if strings.HasPrefix(ev, "done") {
			t.Fatalf("done ran for a closed source: %s", ev)
		}
	}
}
