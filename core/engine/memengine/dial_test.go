package memengine

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// A dial to an address with no listener ends in OnClose with a dial
// *net.OpError wrapping ECONNREFUSED, and no OnOpen (engine.Engine.Dial).
func TestDialRefused(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	addr := f.l.Addr().String()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.l.Close(); err != nil {
		t.Fatalf("second listener Close: %v", err)
	}
	for _, target := range []string{addr, "127.0.0.1:9", "[::1]:9"} {
		client := &probe{name: "client", log: f.log}
		c, err := f.e.Dial(target, client, engine.DialOptions{})
		if err != nil {
			t.Fatalf("dial %s: %v", target, err)
		}
		// Queued writes and Execute before the dial resolves: the function
		// still runs (before OnClose), the bytes go nowhere.
		f.write(c, "hello")
		if err := c.Execute(func() { f.log.add("exec") }); err != nil {
			t.Fatal(err)
		}
		f.e.Settle()
		f.expect("exec", "client close dial tcp "+target+": connect: connection refused")
		var op *net.OpError
		if !errors.As(client.closeErr, &op) || op.Op != "dial" || !errors.Is(client.closeErr, syscall.ECONNREFUSED) {
			t.Fatalf("close error %#v, want dial OpError ECONNREFUSED", client.closeErr)
		}
	}
}

// Dial fails by itself only when it cannot start.
func TestDialBadAddress(t *testing.T) {
	e := New(Options{Clock: NewFakeClock(time.Time{})})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "127.0.0.1:70000", "example.com:80"} {
		if c, err := e.Dial(addr, &probe{}, engine.DialOptions{}); err == nil {
			t.Errorf("Dial(%q) = %v, nil; want an error", addr, c)
		}
	}
	if _, err := e.Dial("127.0.0.1:1", nil, engine.DialOptions{}); err == nil {
		t.Errorf("Dial with nil handler succeeded")
	}
}

func TestListenAddresses(t *testing.T) {
	e := New(Options{Clock: NewFakeClock(time.Time{})})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	nh := func(engine.Conn) engine.Handler { return &probe{} }
	seen := map[string]bool{}
	for range 3 {
		l, err := e.Listen("127.0.0.1:0", nh)
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().(*net.TCPAddr)
		if a.Port == 0 || seen[a.String()] || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("listen :0 got %v (seen %v)", a, seen)
		}
		seen[a.String()] = true
	}
	l, err := e.Listen("127.0.0.1:4000", nh)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"127.0.0.1:4000", "0.0.0.0:4000", ":4000"} {
		if _, err := e.Listen(addr, nh); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("Listen(%q) twice: %v, want EADDRINUSE", addr, err)
		}
	}
	_ = l.Close()
	if _, err := e.Listen("127.0.0.1:4000", nh); err != nil {
		t.Fatalf("rebinding a closed listener's address: %v", err)
	}
	for _, addr := range []string{"localhost:x", "host.example:1", "nonsense"} {
		if _, err := e.Listen(addr, nh); err == nil {
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
}

// A wildcard listener takes dials to any address of its family, and the
// accepted side's local address is the one dialled.
func TestWildcardListener(t *testing.T) {
	log := &eventLog{}
	e := New(Options{Clock: NewFakeClock(time.Time{})})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	var server *probe
	if _, err := e.Listen(":5000", func(engine.Conn) engine.Handler {
		server = &probe{name: "server", log: log}
		return server
	}); err != nil {
		t.Fatal(err)
	}
	client := &probe{name: "client", log: log}
	if _, err := e.Dial("127.0.0.2:5000", client, engine.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Settle()
	if !client.opened || server == nil || server.conn.LocalAddr().String() != "127.0.0.2:5000" {
		t.Fatalf("wildcard accept failed: client opened %v, server %v", client.opened, server)
	}
	refused := &probe{name: "v6", log: log}
	_, _ = e.Dial("[::1]:5000", refused, engine.DialOptions{})
	e.Settle()
	if !errors.Is(refused.closeErr, syscall.ECONNREFUSED) {
		t.Fatalf("IPv6 dial to an IPv4 wildcard: %v, want refused", refused.closeErr)
	}
}

// A nil handler from newHandler refuses the connection unseen: the dialer
// reads EOF.
func TestNilHandlerClosesAccepted(t *testing.T) {
	log := &eventLog{}
	e := New(Options{Clock: NewFakeClock(time.Time{})})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	l, _ := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return nil })
	client := &probe{name: "client", log: log}
	_, _ = e.Dial(l.Addr().String(), client, engine.DialOptions{})
	e.Settle()
	if got := log.String(); got != "client open\nclient eof" {
		t.Fatalf("events %q", got)
	}
}

// A blackholed address makes the dial hang until its timeout on the
// engine's clock.
func TestDialTimeout(t *testing.T) {
	clk := NewFakeClock(time.Time{})
	e := New(Options{Clock: clk})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	if err := e.Blackhole("10.0.0.1:80"); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	client := &probe{name: "client", log: log}
	c, _ := e.Dial("10.0.0.1:80", client, engine.DialOptions{Timeout: 5 * time.Second})
	c.AfterFunc(time.Second, func() { log.add("timer %v", clk.Now().Sub(FakeEpoch)) })
	clk.Advance(4999 * time.Millisecond)
	if got := log.String(); got != "timer 1s" {
		t.Fatalf("before the timeout: %q", got)
	}
	clk.Advance(time.Millisecond)
	var ne net.Error
	if !errors.As(client.closeErr, &ne) || !ne.Timeout() || !errors.Is(client.closeErr, syscall.ETIMEDOUT) {
		t.Fatalf("close error %v, want a dial timeout", client.closeErr)
	}
	if client.opened {
		t.Fatal("OnOpen on a timed-out dial")
	}
}
