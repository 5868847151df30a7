package protocol

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// bindV2 binds ep's msgr2 listener and returns its address (v2, nonce).
func (w *world) bindV2(ep *Endpoint) wire.EntityAddr {
	if err := ep.Bind("v2:127.0.0.1:0"); err != nil {
		w.t.Fatal(err)
	}
	a := ep.Addr()
	if a.Type != wire.AddrTypeMsgr2 {
		w.t.Fatalf("bound %s, not a v2 address", a.TypedString())
	}
	return a
}

// logs collects an endpoint's log lines (Config.Logf).
type logs struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.t.Logf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// p2peer is an msgr2 peer that is not our messenger: a proto2.Conn run
// over a raw engine connection. It answers what proto2 answers, keeps
// every event (message sections copied) and lets the test write raw
// bytes behind proto2's back.
type p2peer struct {
	mu     sync.Mutex
	p      *proto2.Conn
	mk     func(c engine.Conn) *proto2.Conn // a server's Conn, built on open
	c      engine.Conn
	in     []byte
	events []proto2.Event
	err    error
	closed bool
}

func (q *p2peer) OnOpen(c engine.Conn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.c = c
	if q.p == nil {
		q.p = q.mk(c)
	}
	_ = c.Write(q.p.Output())
}

func (q *p2peer) OnData(c engine.Conn, in []byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.in = append(q.in, in...)
	for q.err == nil {
		n, err := q.p.Receive(q.in)
		if out := q.p.Output(); len(out) > 0 {
			_ = c.Write(out)
		}
		for _, e := range q.p.Events() {
			e.Message.Front = append([]byte(nil), e.Message.Front...)
			e.Message.Middle = append([]byte(nil), e.Message.Middle...)
			e.Message.Data = append([]byte(nil), e.Message.Data...)
			q.events = append(q.events, e)
		}
		q.in = q.in[n:]
		if err != nil {
			q.err = err
			_ = c.Close()
		}
		if n == 0 {
			break
		}
	}
	return len(in)
}

func (q *p2peer) OnReadEOF(c engine.Conn) { _ = c.Close() }
func (q *p2peer) OnDrained(engine.Conn)   {}
func (q *p2peer) OnClose(c engine.Conn, err error) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

func (q *p2peer) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *p2peer) established() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.p != nil && q.p.Established()
}

func (q *p2peer) kinds() []proto2.EventKind {
	q.mu.Lock()
	defer q.mu.Unlock()
	var k []proto2.EventKind
	for _, e := range q.events {
		k = append(k, e.Kind)
	}
	return k
}

// setReading stops or restarts the peer's reading (from the test goroutine).
func (q *p2peer) setReading(on bool) {
	q.mu.Lock()
	c := q.c
	q.mu.Unlock()
	if on {
		_ = c.Execute(c.ResumeRead)
	} else {
		_ = c.Execute(c.PauseRead)
	}
}

// write sends raw bytes on the peer's connection.
func (q *p2peer) write(t *testing.T, b []byte) {
	t.Helper()
	q.mu.Lock()
	c := q.c
	q.mu.Unlock()
	if err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// send frames a message with proto2 (its next seq) and sends it.
func (q *p2peer) send(t *testing.T, m wire2.Message) {
	t.Helper()
	q.mu.Lock()
	_, err := q.p.SendMessage(m)
	out := append([]byte(nil), q.p.Output()...)
	q.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	q.write(t, out)
}

// dialP2 opens an msgr2 session to addr with a proto2 client (lossy,
// client.9 at a blank address of nonce 9) and waits until it is open.
func (w *world) dialP2(addr wire.EntityAddr, peerType wire.EntityType) *p2peer {
	w.t.Helper()
	me := wire.NewEntityAddr(mustAP("0.0.0.0:0"), 9)
	me.Type = wire.AddrTypeAny
	p, err := proto2.NewClient(proto2.ClientConfig{EntityType: wire.EntityClient, AuthID: "9", EntityNum: 9,
		PeerType: peerType, Target: addr, Addrs: []wire.EntityAddr{me}, GlobalSeq: 1, Lossy: true})
	if err != nil {
		w.t.Fatal(err)
	}
	q := &p2peer{p: p}
	if _, err := w.eng.Dial(addr.AddrPort().String(), q, engine.DialOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.settle()
	if !q.established() {
		w.t.Fatalf("proto2 client: no session (closed %v, fault %v)", q.isClosed(), q.err)
	}
	return q
}

// listenP2 runs a proto2 server (an osd.0 at nonce 5) on a fresh address
// of the world and returns that address; edit adjusts its config.
func (w *world) listenP2(edit func(*proto2.ServerConfig)) wire.EntityAddr {
	w.t.Helper()
	var l engine.Listener
	l, err := w.eng.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &p2peer{mk: func(c engine.Conn) *proto2.Conn {
			me := wire.AddrFromNet(c.LocalAddr(), 5)
			me.Type = wire.AddrTypeMsgr2
			peer := wire.AddrFromNet(c.RemoteAddr(), 0)
			peer.Type = wire.AddrTypeMsgr2
			cfg := proto2.ServerConfig{EntityType: wire.EntityOSD, Addrs: []wire.EntityAddr{me}, PeerAddr: peer,
				GlobalID: 1, GlobalSeq: 1, Cookie: 1}
			if edit != nil {
				edit(&cfg)
			}
			p, err := proto2.NewServer(cfg)
			if err != nil {
				panic(err)
			}
			return p
		}}
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = l.Close() })
	a := wire.AddrFromNet(l.Addr(), 5)
	a.Type = wire.AddrTypeMsgr2
	return a
}
