package rawepoll

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// TestExecuteBeforeClose (spec/engine.md §5): a function accepted before
// Close runs, and runs before OnClose, even when the connection already
// had an engine event queued (a flush) ahead of it; Execute after Close
// returns ErrClosed.
func TestExecuteBeforeClose(t *testing.T) {
	e, err := New(engine.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownEngine(t, e)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &funcHandler{open: func(c engine.Conn) { c.PauseRead() }}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		var ran atomic.Bool
		opened := make(chan struct{})
		closed := make(chan error, 1)
		c, err := e.Dial(ln.Addr().String(), &funcHandler{
			open: func(engine.Conn) { close(opened) },
			closed: func(_ engine.Conn, err error) {
				if !ran.Load() {
					err = errors.New("OnClose before the function Execute accepted")
				}
				closed <- err
			},
		}, engine.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitCh(t, opened, "OnOpen")
		// Fill the socket so the write leaves bytes queued and a flush
		// posted, then queue the function, then close.
		for c.Write(make([]byte, 1<<20)) == nil && c.OutQueued() == 0 {
		}
		if err := c.Execute(func() { ran.Store(true) }); err != nil {
			t.Fatalf("Execute: %v", err)
		}
		_ = c.Close()
		if err := c.Execute(func() { t.Error("ran after Close") }); !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("Execute after Close: %v, want ErrClosed", err)
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
	}
}
