package protocol

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// recorder is a Hooks that keeps what it gets. With hold set it keeps
// received messages unreleased (a stalled dispatcher) until release.
type recorder struct {
	mu     sync.Mutex
	msgs   []*Message
	events []string
	hold   bool
	held   []*Message
	echo   bool // answer every message on its session (same tid and data)

	seqs    []uint64 // each delivered message's seq, read before its release
	payload int      // front+middle+data bytes delivered
}

func (r *recorder) Deliver(m *Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.seqs = append(r.seqs, m.Seq)
	r.payload += m.PayloadLen()
	if r.hold {
		r.held = append(r.held, m)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	if r.echo {
		_ = m.Conn.SendMessage(&Message{Type: m.Type + 1, Tid: m.Tid, Data: m.Data, Front: m.Front})
	}
	m.Release()
}

func (r *recorder) ev(kind string, s *Session) {
	r.mu.Lock()
	r.events = append(r.events, kind)
	r.mu.Unlock()
}

func (r *recorder) HandleConnect(s *Session)     { r.ev("connect", s) }
func (r *recorder) HandleAccept(s *Session)      { r.ev("accept", s) }
func (r *recorder) HandleReset(s *Session)       { r.ev("reset", s) }
func (r *recorder) HandleRemoteReset(s *Session) { r.ev("remote_reset", s) }
func (r *recorder) HandleRefused(s *Session)     { r.ev("refused", s) }

func (r *recorder) release() int {
	r.mu.Lock()
	h := r.held
	r.held = nil
	r.mu.Unlock()
	for _, m := range h {
		m.Release()
	}
	return len(h)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) tids() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, len(r.msgs))
	for i, m := range r.msgs {
		out[i] = m.Tid
	}
	return out
}

func (r *recorder) eventList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// world is one in-memory network with a fake clock.
type world struct {
	t   testing.TB
	clk *memengine.FakeClock
	eng *memengine.Engine
}

func newWorld(t testing.TB, opts memengine.Options) *world {
	clk := memengine.NewFakeClock(time.Time{})
	opts.Clock = clk
	e := memengine.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return &world{t: t, clk: clk, eng: e}
}

func (w *world) settle() { w.eng.Settle() }

func (w *world) advance(d time.Duration) { w.clk.Advance(d) }

// endpoint builds an endpoint; policy by preset name.
func (w *world) endpoint(name string, policy string, nonce uint32, mod func(*Config)) (*Endpoint, *recorder) {
	n, err := wire.ParseEntityName(name)
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := PolicyByName(policy, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := Config{Name: n, Nonce: nonce, DefaultPolicy: p, CRC: wire.CRCAll, Clock: w.clk,
		Logf: func(f string, a ...any) { w.t.Logf(f, a...) }}
	if mod != nil {
		mod(&cfg)
	}
	r := &recorder{}
	ep := NewEndpoint(w.eng, cfg, r)
	w.t.Cleanup(ep.Stop)
	return ep, r
}

func (w *world) bind(ep *Endpoint) wire.EntityAddr {
	if err := ep.Bind("127.0.0.1:0"); err != nil {
		w.t.Fatal(err)
	}
	return ep.Addr()
}

func (w *world) connect(ep *Endpoint, peerType wire.EntityType, to wire.EntityAddr, nonceKnown bool) *Session {
	s, err := ep.Connect(peerType, to, nonceKnown)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func msg(tid uint64, size int) *Message {
	d := make([]byte, size)
	for i := range d {
		d[i] = byte(tid) + byte(i)
	}
	return &Message{Type: 0x7E01, Tid: tid, Version: 1, CompatVersion: 1, Data: d}
}

func checkInOrder(t *testing.T, got []uint64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("received %d messages, want %d: %v", len(got), n, short(got))
	}
	for i, tid := range got {
		if tid != uint64(i+1) {
			t.Fatalf("message %d has tid %d: %v", i, tid, short(got))
		}
	}
}

func short(v []uint64) string {
	if len(v) > 40 {
		return fmt.Sprint(v[:40], "...")
	}
	return fmt.Sprint(v)
}

// raw is a hand-driven peer: it records every byte and lets the test write
// exact bytes (conformance-style, not built from our own state machine).
type raw struct {
	mu     sync.Mutex
	stop   bool // stop reading (TCP backpressure towards the peer)
	c      engine.Conn
	in     []byte
	open   bool
	closed bool
	err    error
}

func (r *raw) OnOpen(c engine.Conn) { r.mu.Lock(); r.c, r.open = c, true; r.mu.Unlock() }
func (r *raw) OnData(c engine.Conn, in []byte) int {
	r.mu.Lock()
	r.in = append(r.in, in...)
	r.mu.Unlock()
	return len(in)
}
func (r *raw) OnReadEOF(c engine.Conn) { r.mu.Lock(); r.closed = true; r.mu.Unlock(); _ = c.Close() }
func (r *raw) OnDrained(c engine.Conn) {}
func (r *raw) OnClose(c engine.Conn, err error) {
	r.mu.Lock()
	r.closed, r.err = true, err
	r.mu.Unlock()
}

// setReading stops or restarts reading (from the test goroutine).
func (r *raw) setReading(on bool) {
	r.mu.Lock()
	r.stop = !on
	c := r.c
	r.mu.Unlock()
	if on {
		_ = c.Execute(c.ResumeRead)
	} else {
		_ = c.Execute(c.PauseRead)
	}
}

func (r *raw) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.in...)
}

// take removes and returns the first n received bytes (nil if fewer).
func (r *raw) take(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.in) < n {
		return nil
	}
	b := append([]byte(nil), r.in[:n]...)
	r.in = r.in[n:]
	return b
}

func (r *raw) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *raw) write(t testing.TB, b []byte) {
	t.Helper()
	r.mu.Lock()
	c := r.c
	r.mu.Unlock()
	if err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// dialRaw connects a raw peer to addr.
func (w *world) dialRaw(addr wire.EntityAddr) *raw {
	r := &raw{}
	c, err := w.eng.Dial(addr.AddrPort().String(), r, engine.DialOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	r.c = c
	w.settle()
	return r
}

// rawClientHandshake does a client handshake by hand up to the reply and
// returns the reply.
func rawClientHello(t testing.TB, w *world, r *raw, my wire.EntityAddr, cm wire.Connect) wire.ConnectReply {
	t.Helper()
	b := wire.AppendBanner(nil)
	b = wire.AppendAddr(b, my)
	b = wire.AppendConnect(b, cm)
	r.write(t, b)
	w.settle()
	if got := r.take(wire.BannerLen + 2*wire.AddrLen); got == nil {
		t.Fatalf("no server banner (closed=%v)", r.isClosed())
	}
	return rawReply(t, r)
}

func rawReply(t testing.TB, r *raw) wire.ConnectReply {
	t.Helper()
	rb := r.take(wire.ConnectReplyLen)
	if rb == nil {
		t.Fatalf("no connect reply (closed=%v, have %d bytes)", r.isClosed(), len(r.bytes()))
	}
	rep, _, err := wire.DecodeConnectReply(rb)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func clientConnect(gs, cs uint32) wire.Connect {
	return wire.Connect{Features: wire.FeaturesAll, HostType: uint32(wire.EntityClient), GlobalSeq: gs,
		ConnectSeq: cs, ProtocolVersion: ProtocolVersion(wire.EntityClient, wire.EntityOSD, true)}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func clientAddr(nonce uint32) wire.EntityAddr {
	return wire.NewEntityAddr(netip.MustParseAddrPort("0.0.0.0:0"), nonce)
}
