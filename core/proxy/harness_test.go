package proxy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/proxy/config"
)

// peer records what one in-memory connection sees. Tests read it after
// Settle/Advance, when the engine's loop is idle.
type peer struct {
	conn     engine.Conn
	opened   bool
	data     bytes.Buffer
	eof      bool
	closed   bool
	closeErr error
	paused   bool // consume nothing and stay paused (a slow reader)
	onOpen   func(c engine.Conn)
	echo     bool // write back what is read
	drained  int
}

func (p *peer) OnOpen(c engine.Conn) {
	p.conn, p.opened = c, true
	if p.paused {
		c.PauseRead()
	}
	if p.onOpen != nil {
		p.onOpen(c)
	}
}

func (p *peer) OnData(c engine.Conn, in []byte) int {
	if p.paused {
		c.PauseRead()
		return 0
	}
	p.data.Write(in)
	if p.echo {
		_ = c.Write(in)
	}
	return len(in)
}
func (p *peer) OnReadEOF(c engine.Conn) { p.eof = true }
func (p *peer) OnDrained(c engine.Conn) { p.drained++ }
func (p *peer) OnClose(c engine.Conn, err error) {
	p.closed, p.closeErr = true, err
}

// harness runs a proxy on a memengine with a fake clock, and fake backend
// servers on virtual addresses.
type harness struct {
	t       *testing.T
	clk     *memengine.FakeClock
	e       *memengine.Engine
	p       *Proxy
	cfg     *config.Config
	log     *bytes.Buffer
	servers map[string][]*peer // accepted server-side conns per listen address
	lis     map[string]engine.Listener
	// sessions are every session the proxy created, in order.
	sessions []*session
}

func newHarness(t *testing.T, cfgText string, pipe int) *harness {
	t.Helper()
	cfg, err := config.Parse([]config.File{{Name: "test.cfg", Data: []byte(cfgText)}}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := memengine.NewFakeClock(time.Time{})
	e := memengine.New(memengine.Options{Config: EngineConfig(cfg), Clock: clk, PipeBufferSize: pipe})
	h := &harness{t: t, clk: clk, e: e, cfg: cfg, log: &bytes.Buffer{}, servers: map[string][]*peer{}, lis: map[string]engine.Listener{}}
	p, err := New(cfg, Options{Engine: e, Clock: clk, Log: h.log})
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	p.onSession = func(s *session) { h.sessions = append(h.sessions, s) }
	t.Cleanup(func() {
		h.p.SoftStop()
		_ = e.Shutdown(t.Context())
	})
	return h
}

func (h *harness) start() {
	h.t.Helper()
	if err := h.p.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.e.Settle()
}

// server listens on addr; mk makes each accepted connection's peer.
func (h *harness) server(addr string, mk func() *peer) {
	h.t.Helper()
	l, err := h.e.Listen(addr, func(c engine.Conn) engine.Handler {
		p := mk()
		h.servers[addr] = append(h.servers[addr], p)
		return p
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.lis[addr] = l
}

func (h *harness) killServer(addr string) {
	_ = h.lis[addr].Close()
	h.e.Settle()
}

// dial connects a client to addr.
func (h *harness) dial(addr string, p *peer) *peer {
	h.t.Helper()
	c, err := h.e.Dial(addr, p, engine.DialOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	p.conn = c
	return p
}

func (h *harness) settle() { h.e.Settle() }

func (h *harness) advance(d time.Duration) { h.clk.Advance(d) }

func (h *harness) only(addr string) *peer {
	h.t.Helper()
	if n := len(h.servers[addr]); n != 1 {
		h.t.Fatalf("%s: %d server connections, want 1", addr, n)
	}
	return h.servers[addr][0]
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

const baseCfg = `
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
`

func cfgWith(extra ...string) string { return baseCfg + strings.Join(extra, "\n") + "\n" }
