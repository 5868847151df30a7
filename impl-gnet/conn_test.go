package gnetengine

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
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
func TestCloseWriteTwice(t *testing.T) {
	c := openConn(t, engine.Config{Workers: 1})
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
