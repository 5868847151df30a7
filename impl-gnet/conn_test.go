package gnetengine

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// A dialed socket follows Config.Nagle both ways (Go's net.Dial sets
// TCP_NODELAY, so Nagle must clear it).
func TestDialNagle(t *testing.T) {
	for _, nagle := range []bool{false, true} {
		c := openConn(t, engine.Config{Workers: 1, Nagle: nagle})
		got, err := unix.GetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		if err != nil {
			t.Fatal(err)
		}
		if want := !nagle; (got != 0) != want {
			t.Errorf("Nagle=%v: TCP_NODELAY=%d, want set=%v", nagle, got, want)
		}
	}
}

// CloseWrite is idempotent (spec/engine.md "CloseWrite"); after Close it
// fails with ErrClosed.
//
// The peer is a kernel listener that never accepts: the connection waits
// established in its backlog, never read, never closed. openConn's peer,
// the engine's own listener with BaseHandler, closes when our FIN
// arrives, and the EOF that follows closes this conn too, at times between
// the two calls (CI; 450 of 4,500 runs in three parallel loops).
func TestCloseWriteTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := openConnTo(t, engine.Config{Workers: 1}, func(engine.Engine) string { return ln.Addr().String() })
	for i := 0; i < 2; i++ {
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite %d: %v", i+1, err)
		}
	}
	_ = c.Close()
	if err := c.CloseWrite(); err != engine.ErrClosed {
		t.Fatalf("CloseWrite after Close: %v, want ErrClosed", err)
	}
}

// A closed connection's pending timers leave its loop's heap when it closes,
// not when they come due (spec/engine.md section 6).
func TestCloseDropsTimers(t *testing.T) {
	c := openConn(t, engine.Config{Workers: 1})
	// OnOpen runs before the conn is marked open, so an AfterFunc right
	// after it may still be queued for the post-open drain (bounded by
	// ExecuteQueueLimit), not on the heap. A function run through Execute
	// runs after that drain: from then on AfterFunc goes to the heap.
	opened := make(chan struct{})
	if err := c.Execute(func() { close(opened) }); err != nil {
		t.Fatal(err)
	}
	enginetest.Wait(t, opened, "Execute after OnOpen")
	before := c.loop.timers.Len()
	for range 1000 {
		c.AfterFunc(time.Hour, func() { t.Error("timer of a closed connection ran") })
	}
	if got := c.loop.timers.Len(); got < before+1000 {
		t.Fatalf("heap holds %d timers after 1000 AfterFunc, want >= %d", got, before+1000)
	}
	_ = c.Close()
	enginetest.Wait(t, c.h.(*openHandler).closed, "OnClose")
	if got := c.loop.timers.Len(); got > before {
		t.Errorf("heap holds %d timers after OnClose, want <= %d", got, before)
	}
}
