package memengine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Execute runs functions in submission order; one submitted from the loop
// runs after the current callback (engine.Conn.Execute).
func TestExecuteOrder(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{
		onData: func(c engine.Conn, in []byte) int {
			_ = c.Execute(func() { f.log.add("from callback") })
			f.log.add("callback returns")
			return len(in)
		},
	})
	f.expect("client open", "server open")
	for i := range 3 {
		if err := c.Execute(func() { f.log.add("exec %d", i) }); err != nil {
			t.Fatal(err)
		}
	}
	f.e.Settle()
	f.expect("exec 0", "exec 1", "exec 2")
	f.write(f.server.conn, "x")
	f.e.Settle()
	f.expect("callback returns", `client data "x" consumed 1`, "from callback")
}

// The Execute queue is bounded: at Config.ExecuteQueueLimit pending
// functions, Execute fails with ErrExecuteQueueFull until the loop catches up.
func TestExecuteQueueFull(t *testing.T) {
	f := newFixture(t, Options{Config: engine.Config{ExecuteQueueLimit: 3}}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	block, blocked := make(chan struct{}), make(chan struct{})
	if err := c.Execute(func() { close(blocked); <-block }); err != nil {
		t.Fatal(err)
	}
	settled := make(chan struct{})
	go func() { f.e.Settle(); close(settled) }()
	<-blocked // the loop is inside the first function, which left the queue
	for i := range 3 {
		if err := c.Execute(func() { f.log.add("queued %d", i) }); err != nil {
			t.Fatalf("Execute %d of 3: %v", i, err)
		}
	}
	if err := c.Execute(func() {}); !errors.Is(err, engine.ErrExecuteQueueFull) {
		t.Fatalf("Execute past the limit: %v, want ErrExecuteQueueFull", err)
	}
	close(block)
	<-settled
	f.e.Settle()
	f.expect("queued 0", "queued 1", "queued 2")
	if err := c.Execute(func() {}); err != nil {
		t.Fatalf("Execute after the queue drained: %v", err)
	}
}

// Functions queued before Close run before OnClose; none is lost.
func TestExecuteBeforeClose(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	_ = c.Execute(func() { f.log.add("exec") })
	_ = c.Close()
	f.e.Settle()
	f.expect("exec", "client close <nil>", "server eof")
}

// Shutdown closes every connection with ErrEngineClosed, in creation
// order, then refuses new work.
func TestShutdown(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	a := f.dial(&probe{name: "a"})
	f.dial(&probe{name: "b"})
	f.expect("a open", "server open", "b open", "server open")
	a.AfterFunc(time.Second, func() { f.log.add("timer") })
	if n := f.e.NumConns(); n != 4 {
		t.Fatalf("NumConns %d, want 4", n)
	}
	if err := f.e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.e.NumConns(); n != 0 {
		t.Fatalf("NumConns after Shutdown %d", n)
	}
	f.expect("a close engine: engine shut down", "server close engine: engine shut down",
		"b close engine: engine shut down", "server close engine: engine shut down")
	if _, err := f.e.Dial(f.l.Addr().String(), &probe{}, engine.DialOptions{}); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Dial after Shutdown: %v", err)
	}
	if _, err := f.e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return nil }); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
	if err := a.Execute(func() {}); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Execute after Shutdown: %v", err)
	}
	if err := a.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Write after Shutdown: %v", err)
	}
	f.clk.Advance(time.Minute)
	f.e.Settle()
	f.expect()
	if err := f.e.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// Shutdown gives up when ctx ends while a callback is stuck.
func TestShutdownContext(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	release := make(chan struct{})
	started := make(chan struct{})
	_ = c.Execute(func() { close(started); <-release })
	go f.e.Settle()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck callback: %v", err)
	}
	close(release)
	if err := f.e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
