package serial

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// regConn is the smallest engine connection over a BaseConn: no read side.
type regConn struct {
	BaseConn
	closedSocket chan struct{} // closed by the engine's part of CloseWith
}

func (c *regConn) PauseRead()  {}
func (c *regConn) ResumeRead() {}

func newRegConn(r *Registry, l *Loop) *regConn {
	c := &regConn{closedSocket: make(chan struct{})}
	c.BaseConn.Init(ConnConfig{
		Self:     c,
		Registry: r,
		Loop:     l,
		Config:   engine.Config{}.WithDefaults(1),
		CloseLocked: func() func() {
			tc := c.TCP
			return func() {
				if tc != nil {
					_ = tc.Close()
				}
				close(c.closedSocket)
			}
		},
	})
	return c
}

// regHandler reports OnOpen and OnClose.
type regHandler struct {
	engine.BaseHandler
	opened chan engine.Conn
	closed chan error
}

func (h *regHandler) OnOpen(c engine.Conn)             { h.opened <- c }
func (h *regHandler) OnClose(_ engine.Conn, err error) { h.closed <- err }

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// An accepted connection gets OnOpen with the engine's connection (not
// the BaseConn); Shutdown closes the listener, then the connection with
// ErrEngineClosed through the engine's part of closing, waits for the
// accept goroutine, and refuses Listen and Dial afterwards.
func TestRegistryLifecycle(t *testing.T) {
	var r Registry
	r.Init("test", engine.Config{}.WithDefaults(1))
	h := &regHandler{opened: make(chan engine.Conn, 1), closed: make(chan error, 1)}
	accepted := make(chan *regConn, 1)
	l, err := r.Listen("127.0.0.1:0", func(tc *net.TCPConn) error {
		c := newRegConn(&r, r.NewLoop())
		if !c.Accepted(tc, func(engine.Conn) engine.Handler { return h }) {
			return nil
		}
		if c.SetSocket(tc) && c.Open() {
			accepted <- c
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := recvWithin(t, accepted, "accepted connection")
	if got := recvWithin(t, h.opened, "OnOpen"); got != engine.Conn(c) {
		t.Fatalf("OnOpen got %T, want the engine's connection", got)
	}
	if c.RemoteAddr().String() != client.LocalAddr().String() {
		t.Fatalf("RemoteAddr %v, want %v", c.RemoteAddr(), client.LocalAddr())
	}

	// A dial Near c joins c's loop; one Near a stranger gets a new loop.
	if lp, err := r.PrepareDial("127.0.0.1:1", h, c); err != nil || lp != c.Loop {
		t.Fatalf("PrepareDial near a conn of this engine: %v, same loop %v", err, lp == c.Loop)
	}
	var other Registry
	other.Init("other", engine.Config{}.WithDefaults(1))
	if lp, err := other.PrepareDial("127.0.0.1:1", h, c); err != nil || lp == c.Loop {
		t.Fatalf("PrepareDial near another engine's conn: %v, shared loop %v", err, lp == c.Loop)
	}
	if _, err := r.PrepareDial("127.0.0.1:1", nil, nil); err == nil {
		t.Fatal("PrepareDial accepted a nil handler")
	}
	if _, err := r.PrepareDial("no-port", h, nil); err == nil {
		t.Fatal("PrepareDial accepted an address without a port")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	recvWithin(t, c.closedSocket, "engine close hook")
	if err := recvWithin(t, h.closed, "OnClose"); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("OnClose(%v), want ErrEngineClosed", err)
	}
	// The peer sees the socket closed.
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("client read after Shutdown: %v, want EOF", err)
	}
	if _, err := r.Listen("127.0.0.1:0", func(*net.TCPConn) error { return nil }); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
	d := newRegConn(&r, r.NewLoop())
	if _, err := d.Dialing("127.0.0.1:1", h, time.Second); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Dialing after Shutdown: %v", err)
	}
	if err := c.Execute(func() { t.Error("Execute ran after close") }); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Execute after close: %v", err)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// A dial that gets no answer ends at the Dialing timeout (the one
// context that carries both the deadline and Close's cancel) with a dial
// error that is a timeout. The peer is a loopback listener whose accept
// queue is full, so the kernel drops the SYN and the connect hangs.
func TestBaseConnDialTimeout(t *testing.T) {
	addr := enginetest.StalledAddr(t)
	var r Registry
	r.Init("test", engine.Config{}.WithDefaults(1))
	h := &regHandler{opened: make(chan engine.Conn, 1), closed: make(chan error, 1)}
	lp, err := r.PrepareDial(addr, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newRegConn(&r, lp)
	ctx, err := c.Dialing(addr, h, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.DialTCP(ctx, addr); tc != nil {
		_ = tc.Close()
		t.Fatal("dial to a full accept queue succeeded")
	}
	var op *net.OpError
	if err := recvWithin(t, h.closed, "OnClose"); !errors.As(err, &op) || op.Op != "dial" || !op.Timeout() {
		t.Fatalf("OnClose(%v), want a dial *net.OpError that is a timeout", err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(wctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A dial to a closed port closes the connection with the dial error, and
// the handler hears it in OnClose.
func TestBaseConnDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	var r Registry
	r.Init("test", engine.Config{}.WithDefaults(1))
	h := &regHandler{opened: make(chan engine.Conn, 1), closed: make(chan error, 1)}
	lp, err := r.PrepareDial(addr, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newRegConn(&r, lp)
	ctx, err := c.Dialing(addr, h, DialTimeout(engine.DialOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.DialTCP(ctx, addr); tc != nil {
		_ = tc.Close()
		t.Fatal("dial to a closed port succeeded")
	}
	var op *net.OpError
	if err := recvWithin(t, h.closed, "OnClose"); !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("OnClose(%v), want a dial *net.OpError", err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(wctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
