package protocol

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// loopConn is an engine.Conn whose callbacks the test drives by hand, each
// socket from its own goroutine, as engines with one loop per connection
// (impl-goroutine) or several loops (rawepoll) run them. Writes are kept.
type loopConn struct {
	mu     sync.Mutex
	out    []byte
	closed bool
}

type nopTimer struct{}

func (nopTimer) Stop() bool { return true }

func (c *loopConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6800} }
func (c *loopConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *loopConn) Write(b []byte) error { return c.Writev([][]byte{b}) }
func (c *loopConn) Writev(bufs [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range bufs {
		c.out = append(c.out, b...)
	}
	return nil
}
func (c *loopConn) OutQueued() int    { return 0 }
func (c *loopConn) CloseWrite() error { return nil }
func (c *loopConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
func (c *loopConn) PauseRead()                                        {}
func (c *loopConn) ResumeRead()                                       {}
func (c *loopConn) Execute(fn func()) error                           { return engine.ErrClosed } // nothing here needs it
func (c *loopConn) AfterFunc(d time.Duration, fn func()) engine.Timer { return nopTimer{} }

// take removes the first n written bytes (nil if fewer).
func (c *loopConn) take(n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) < n {
		return nil
	}
	b := append([]byte(nil), c.out[:n]...)
	c.out = c.out[n:]
	return b
}

// orderHooks records Deliver calls and whether two ever overlapped; the
// Deliver of seq holdSeq waits for release (a slow fast-dispatch handler).
type orderHooks struct {
	recorder
	holdSeq uint64
	release chan struct{}
	entered chan uint64

	mu      sync.Mutex
	active  int
	overlap bool
	seqs    []uint64
}

func (h *orderHooks) Deliver(m *Message) {
	h.mu.Lock()
	h.active++
	h.overlap = h.overlap || h.active > 1
	h.seqs = append(h.seqs, m.Seq)
	h.mu.Unlock()
	h.entered <- m.Seq
	if m.Seq == h.holdSeq {
		<-h.release
	}
	h.mu.Lock()
	h.active--
	h.mu.Unlock()
	m.Release()
}

// A lossless replace moves a session to a socket on another loop while the
// old socket's loop is still delivering: the old one has taken seq 1 (so
// the SEQ reply tells the peer to resend from 2) but its Deliver has not
// returned. The new socket must not deliver seq 2 before that (Ceph keeps
// both on the existing connection's thread). Before the fix, Deliver(2)
// ran alongside Deliver(1), and with a reply sent from each (the echo
// server) the client saw tid 2 answered before tid 1. (A per-session lock
// held across Deliver fixed the order but blocked loop 2 meanwhile; see
// TestDeliverHoldsNoLockAcrossReplace.)
func TestReplaceKeepsDeliverOrder(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	p, err := PolicyByName("stateful_server", 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &orderHooks{holdSeq: 1, release: make(chan struct{}), entered: make(chan uint64, 4)}
	cfg := Config{Name: wire.EntityName{Type: wire.EntityOSD}, Nonce: 1, DefaultPolicy: p, CRC: wire.CRCAll,
		Clock: w.clk, Logf: t.Logf}
	ep := NewEndpoint(w.eng, cfg, h)
	t.Cleanup(ep.Stop)

	accept := func(gs, cs uint32, wantInSeq uint64) (engine.Handler, *loopConn) {
		t.Helper()
		return acceptOnLoop(t, ep, gs, cs, wantInSeq)
	}

	k1, c1 := accept(10, 0, 0)
	done1 := make(chan struct{})
	go func() { // loop 1: delivers seq 1, held in the handler
		defer close(done1)
		k1.OnData(c1, rawMsg(1))
	}()
	if got := <-h.entered; got != 1 {
		t.Fatalf("first Deliver got seq %d", got)
	}

	// The peer reconnects (cs 1 → 2): replace; in_seq is already 1.
	k2, c2 := accept(11, 2, 1)
	if !c1.closed {
		t.Fatal("the replaced socket must be closed")
	}
	// Loop 2 (here, the test goroutine) reads the resent stream from seq 2.
	// It returns without waiting for loop 1: seq 2 joins the session's
	// inbox, and the delivery running on loop 1 takes it next.
	k2.OnData(c2, rawMsg(2))
	select {
	case got := <-h.entered:
		t.Errorf("Deliver(seq %d) on the new socket began while Deliver(seq 1) on the replaced one had not returned", got)
	default:
	}
	close(h.release)
	<-done1
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlap || !slices.Equal(h.seqs, []uint64{1, 2}) {
		t.Fatalf("Deliver order %v, overlapping %v; want [1 2], never overlapping", h.seqs, h.overlap)
	}
}

// acceptOnLoop runs the engine's accept path for a socket on its own
// "loop" and completes the handshake (SEQ exchange) with connect_seq cs.
func acceptOnLoop(t *testing.T, ep *Endpoint, gs, cs uint32, wantInSeq uint64) (engine.Handler, *loopConn) {
	t.Helper()
	c := &loopConn{}
	return acceptOn(t, ep, c, gs, cs, wantInSeq), c
}

// acceptOn is acceptOnLoop on a given connection.
func acceptOn(t *testing.T, ep *Endpoint, c interface {
	engine.Conn
	take(n int) []byte
}, gs, cs uint32, wantInSeq uint64) engine.Handler {
	t.Helper()
	k := ep.newAcceptHandler(c, false)
	k.OnOpen(c)
	hello := wire.AppendAddr(wire.AppendBanner(nil), clientAddr(42))
	k.OnData(c, wire.AppendConnect(hello, clientConnect(gs, cs)))
	if c.take(wire.BannerLen+2*wire.AddrLen) == nil {
		t.Fatal("no server banner")
	}
	rep, _, err := wire.DecodeConnectReply(c.take(wire.ConnectReplyLen))
	if err != nil || rep.Tag != wire.TagSeq {
		t.Fatalf("connect cs %d: reply %+v, %v", cs, rep, err)
	}
	if v, _, _ := wire.DecodeSeq(c.take(8)); v != wantInSeq {
		t.Fatalf("connect cs %d: server in_seq %d, want %d", cs, v, wantInSeq)
	}
	k.OnData(c, wire.AppendSeq(nil, 0))
	return k
}

// reentrantHooks is a dispatcher whose Deliver of seq 1 needs the other
// loop to make progress first (as a handler that hands work to another
// connection's loop and waits for it would), then calls back into the
// session and the endpoint: SendMessage, a registry lookup, MarkDown.
type reentrantHooks struct {
	recorder
	ep        *Endpoint
	entered   chan struct{} // closed when Deliver(1) begins
	otherLoop chan struct{} // closed when the other loop's OnData returned
	stuck     chan struct{} // closed if Deliver(1) gave up waiting

	mu     sync.Mutex
	seqs   []uint64
	active int
	overlp bool
	sendOK []error
}

func (h *reentrantHooks) Deliver(m *Message) {
	h.mu.Lock()
	h.active++
	h.overlp = h.overlp || h.active > 1
	h.seqs = append(h.seqs, m.Seq)
	h.mu.Unlock()
	if m.Seq == 1 {
		close(h.entered)
		select {
		case <-h.otherLoop:
		case <-time.After(10 * time.Second): // a deadlock detector, not a synchroniser: the wait ends at once when correct
			close(h.stuck)
		}
	}
	err := m.Conn.SendMessage(&Message{Type: m.Type + 1, Tid: m.Seq})
	_ = h.ep.Sessions()
	if m.Seq == 2 {
		m.Conn.MarkDown()
	}
	h.mu.Lock()
	h.sendOK = append(h.sendOK, err)
	h.active--
	h.mu.Unlock()
	m.Release()
}

// No lock is held while the dispatcher runs: a lossless replace leaves the
// old socket's loop inside Deliver(seq 1) while the new socket's loop reads
// seq 2. The new loop must not wait for that Deliver to return (under the
// old per-session delivery lock it did, and a Deliver that needed the new
// loop deadlocked); seq 2 is handed to the running delivery instead, so
// order and exactly-once hold, and the callbacks may call back into the
// session (SendMessage, MarkDown) and the endpoint.
func TestDeliverHoldsNoLockAcrossReplace(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	p, err := PolicyByName("stateful_server", 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &reentrantHooks{entered: make(chan struct{}), otherLoop: make(chan struct{}), stuck: make(chan struct{})}
	cfg := Config{Name: wire.EntityName{Type: wire.EntityOSD}, Nonce: 1, DefaultPolicy: p, CRC: wire.CRCAll,
		Clock: w.clk, Logf: t.Logf}
	ep := NewEndpoint(w.eng, cfg, h)
	h.ep = ep
	t.Cleanup(ep.Stop)

	k1, c1 := acceptOnLoop(t, ep, 10, 0, 0)
	done1 := make(chan struct{})
	go func() { // loop 1: Deliver(1) waits for loop 2
		defer close(done1)
		k1.OnData(c1, rawMsg(1))
	}()
	<-h.entered // loop 1 has taken seq 1: the replace below sees in_seq 1
	k2, c2 := acceptOnLoop(t, ep, 11, 2, 1)
	k2.OnData(c2, rawMsg(2)) // loop 2, here on the test goroutine
	close(h.otherLoop)
	<-done1
	select {
	case <-h.stuck:
		t.Fatal("Deliver(1) waited 10 s for the other loop: it was blocked by a lock held across Deliver")
	default:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlp || !slices.Equal(h.seqs, []uint64{1, 2}) {
		t.Fatalf("Deliver order %v, overlapping %v; want [1 2], never overlapping", h.seqs, h.overlp)
	}
	for i, err := range h.sendOK {
		if err != nil {
			t.Errorf("SendMessage from Deliver %d: %v", i+1, err)
		}
	}
	if got := ep.Sessions(); len(got) != 0 {
		t.Errorf("MarkDown from Deliver left %d sessions registered", len(got))
	}
}
