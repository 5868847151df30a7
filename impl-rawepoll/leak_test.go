package rawepoll

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// closer is a handler that closes at once and reports OnClose.
type closer struct {
	engine.BaseHandler
	closed func()
}

func (h *closer) OnOpen(c engine.Conn) { _ = c.Close() }
func (h *closer) OnClose(engine.Conn, error) {
	if h.closed != nil {
		h.closed()
	}
}

// eofCloser is the server side: it closes when the client does.
type eofCloser struct {
	engine.BaseHandler
	wg *sync.WaitGroup
}

func (h *eofCloser) OnClose(engine.Conn, error) { h.wg.Done() }

// connectCloseCycles dials n connections, at most par at a time; each
// client closes in OnOpen, each server side closes at EOF. It returns when
// both sides of every connection have reported OnClose.
func connectCloseCycles(tb testing.TB, e engine.Engine, n, par int) {
	tb.Helper()
	var servers sync.WaitGroup
	servers.Add(n)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return &eofCloser{wg: &servers} })
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	addr := ln.Addr().String()
	slots := make(chan struct{}, par)
	var clients sync.WaitGroup
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		clients.Add(1)
		h := &closer{closed: func() { <-slots; clients.Done() }}
		if _, err := e.Dial(addr, h, engine.DialOptions{}); err != nil {
			tb.Fatalf("Dial %d: %v", i, err)
		}
	}
	waitGroup(tb, &clients, "client OnClose")
	waitGroup(tb, &servers, "server OnClose")
	_ = ln.Close()
}

func waitGroup(tb testing.TB, wg *sync.WaitGroup, what string) {
	tb.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(50 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// TestNoLeaksAfter10kConnectClose: 10,000 connect/close cycles leave the
// process with the descriptors it had (checked while the engine runs and
// after Shutdown) and no goroutines behind.
func TestNoLeaksAfter10kConnectClose(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	fdsBefore := openFDs(t)
	e, err := New(engine.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	fdsEngine := openFDs(t)
	connectCloseCycles(t, e, 10000, 16)
	// The listener's descriptor goes on its loop after Close; wait for
	// it without sleeping blindly.
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) != fdsEngine && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := openFDs(t); got != fdsEngine {
		t.Errorf("open fds %d after 10000 cycles, %d before", got, fdsEngine)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t); got != fdsBefore {
		t.Errorf("open fds %d after Shutdown, %d before New", got, fdsBefore)
	}
	for time.Now().Before(deadline) && runtime.NumGoroutine() > goroutines {
		time.Sleep(5 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("%d goroutines after Shutdown, %d before New", got, goroutines)
	}
}
