package memengine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// eventLog records callbacks in the order they happen, across handlers.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

// probe is a Handler that logs every callback and keeps what it consumed.
// Its behaviour is set by the optional funcs; the default consumes all.
type probe struct {
	name string
	log  *eventLog

	onOpen    func(c engine.Conn)
	onData    func(c engine.Conn, in []byte) int
	onReadEOF func(c engine.Conn)
	onDrained func(c engine.Conn)

	mu       sync.Mutex
	conn     engine.Conn
	data     []byte
	opened   bool
	eof      bool
	drained  int
	closed   bool
	closeErr error
}

func (p *probe) OnOpen(c engine.Conn) {
	p.mu.Lock()
	p.conn, p.opened = c, true
	p.mu.Unlock()
	p.log.add("%s open", p.name)
	if p.onOpen != nil {
		p.onOpen(c)
	}
}

func (p *probe) OnData(c engine.Conn, in []byte) int {
	n := len(in)
	if p.onData != nil {
		n = p.onData(c, in)
	}
	p.mu.Lock()
	p.data = append(p.data, in[:n]...)
	p.mu.Unlock()
	p.log.add("%s data %q consumed %d", p.name, in, n)
	return n
}

func (p *probe) OnReadEOF(c engine.Conn) {
	p.mu.Lock()
	p.eof = true
	p.mu.Unlock()
	p.log.add("%s eof", p.name)
	if p.onReadEOF != nil {
		p.onReadEOF(c)
	}
}

func (p *probe) OnDrained(c engine.Conn) {
	p.mu.Lock()
	p.drained++
	p.mu.Unlock()
	p.log.add("%s drained queued=%d", p.name, c.OutQueued())
	if p.onDrained != nil {
		p.onDrained(c)
	}
}

func (p *probe) OnClose(c engine.Conn, err error) {
	p.mu.Lock()
	p.closed, p.closeErr = true, err
	p.mu.Unlock()
	p.log.add("%s close %v", p.name, err)
}

func (p *probe) received() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.data)
}

// fixture is a fake-clock engine with one listener whose accepted
// connections get the probe made by newServer.
type fixture struct {
	t      *testing.T
	clk    *FakeClock
	e      *Engine
	log    *eventLog
	l      engine.Listener
	server *probe // the last accepted connection's handler
}

func newFixture(t *testing.T, opts Options, server func() *probe) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: NewFakeClock(time.Time{}), log: &eventLog{}}
	opts.Clock = f.clk
	f.e = New(opts)
	t.Cleanup(func() { _ = f.e.Shutdown(t.Context()) })
	if server == nil {
		server = func() *probe { return &probe{} }
	}
	l, err := f.e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		p := server()
		if p.name == "" {
			p.name = "server"
		}
		p.log = f.log
		f.server = p
		return p
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f.l = l
	return f
}

// dial connects a client probe and settles, so both sides are open.
func (f *fixture) dial(client *probe) engine.Conn {
	f.t.Helper()
	if client.name == "" {
		client.name = "client"
	}
	client.log = f.log
	c, err := f.e.Dial(f.l.Addr().String(), client, engine.DialOptions{})
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	f.e.Settle()
	return c
}

func (f *fixture) write(c engine.Conn, s string) {
	f.t.Helper()
	if err := c.Write([]byte(s)); err != nil {
		f.t.Fatalf("write %q: %v", s, err)
	}
}

// expect compares the events logged since the last expect.
func (f *fixture) expect(want ...string) {
	f.t.Helper()
	got := f.log.take()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Fatalf("events:\n  got:  %q\n  want: %q", got, want)
	}
}
