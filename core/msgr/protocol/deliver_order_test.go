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
func (c *loopConn) SetContext(v any)                                  {}
func (c *loopConn) Context() any                                      { return nil }

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
// server) the client saw tid 2 answered before tid 1.
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

	// accept runs the engine's accept path for a socket on its own "loop"
	// and completes the handshake (SEQ exchange) with connect_seq cs.
	accept := func(gs, cs uint32, wantInSeq uint64) (engine.Handler, *loopConn) {
		t.Helper()
		c := &loopConn{}
		k := ep.newAcceptHandler(c)
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
		return k, c
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
	done2 := make(chan struct{})
	go func() { // loop 2: the resent stream starts at seq 2
		defer close(done2)
		k2.OnData(c2, rawMsg(2))
	}()
	select {
	case got := <-h.entered:
		t.Errorf("Deliver(seq %d) on the new socket began while Deliver(seq 1) on the replaced one had not returned", got)
	case <-time.After(200 * time.Millisecond):
		// Not proof of absence on its own, but before the fix seq 2 got
		// here at once; with it, loop 2 waits for Deliver(1).
	}
	close(h.release)
	<-done1
	<-done2
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlap || !slices.Equal(h.seqs, []uint64{1, 2}) {
		t.Fatalf("Deliver order %v, overlapping %v; want [1 2], never overlapping", h.seqs, h.overlap)
	}
}
