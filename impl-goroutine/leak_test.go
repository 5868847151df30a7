package goroutine

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// closer closes its connection as soon as it opens and reports OnClose.
type closer struct {
	engine.BaseHandler
	done chan error
}

func (h *closer) OnOpen(c engine.Conn)             { _ = c.Close() }
func (h *closer) OnClose(_ engine.Conn, err error) { h.done <- err }

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestConnectCloseNoLeak runs 10,000 connect/close cycles and checks that
// open fds and goroutines return to where they were once the engine has
// shut down (bounded wait for the runtime to reap exited goroutines).
func TestConnectCloseNoLeak(t *testing.T) {
	const cycles, workers = 10000, 8
	// Create the runtime's netpoll fd before counting.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
	}
	fdsBefore, gBefore := countFDs(t), runtime.NumGoroutine()

	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return engine.BaseHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < cycles/workers; i++ {
				h := &closer{done: make(chan error, 1)}
				if _, err := e.Dial(addr, h, engine.DialOptions{}); err != nil {
					t.Errorf("Dial: %v", err)
					return
				}
				select {
				case err := <-h.done:
					if err != nil {
						t.Errorf("OnClose: %v", err)
						return
					}
				case <-time.After(10 * time.Second):
					t.Errorf("cycle %d: no OnClose", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	fdsMid := countFDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fds, gs := countFDs(t), runtime.NumGoroutine()
		if fds <= fdsBefore && gs <= gBefore {
			t.Logf("fds %d -> %d (mid-run %d), goroutines %d -> %d", fdsBefore, fds, fdsMid, gBefore, gs)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("leak after %d cycles: fds %d -> %d, goroutines %d -> %d\n%s",
				cycles, fdsBefore, fds, gBefore, gs, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling a bounded teardown, not synchronising
	}
}
