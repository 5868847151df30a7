package netpollengine

import (
	"context"
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

// cycleConns runs n connect/close cycles over w goroutines.
func cycleConns(t *testing.T, e engine.Engine, addr string, n, w int) {
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/w; i++ {
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
}

// TestConnectCloseNoLeak runs connect/close cycles and checks that open
// fds (each connection holds two: netpoll's dup and the TCPConn) and
// goroutines return to where they were once the engine has shut down.
// netpoll's pollers are process-wide and outlive engines, so a warm-up
// engine creates them before the counts are taken.
func TestConnectCloseNoLeak(t *testing.T) {
	const cycles, workers = 3000, 4
	newEngine := func() (engine.Engine, string) {
		e, err := New(engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return engine.BaseHandler{} })
		if err != nil {
			t.Fatal(err)
		}
		return e, ln.Addr().String()
	}
	shutdown := func(e engine.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	warm, waddr := newEngine()
	cycleConns(t, warm, waddr, 8, 1)
	shutdown(warm)
	time.Sleep(100 * time.Millisecond) // let the warm-up's pool goroutines exit
	fdsBefore, gBefore := countFDs(t), runtime.NumGoroutine()

	e, addr := newEngine()
	cycleConns(t, e, addr, cycles, workers)
	if t.Failed() {
		return
	}
	fdsMid := countFDs(t)
	shutdown(e)
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

// toggler pauses and resumes reading on every delivery (from a timer), and
// closes at read EOF.
type toggler struct{ engine.BaseHandler }

func (toggler) OnData(c engine.Conn, in []byte) int {
	c.PauseRead()
	c.AfterFunc(time.Millisecond, c.ResumeRead)
	return len(in)
}

// sender writes 256 KiB, shuts its write side and reports OnClose.
type sender struct {
	engine.BaseHandler
	done chan error
}

func (h *sender) OnOpen(c engine.Conn) {
	_ = c.Write(make([]byte, 256<<10))
	_ = c.CloseWrite()
}
func (h *sender) OnClose(_ engine.Conn, err error) { h.done <- err }

// TestPauseCyclesNoLeak: connections that move data through pause/resume
// cycles (the fd leaving and re-entering netpoll's epoll) and end with
// read EOF leave no fd or goroutine behind.
func TestPauseCyclesNoLeak(t *testing.T) {
	const cycles = 200
	warm, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	wl, err := warm.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return toggler{} })
	if err != nil {
		t.Fatal(err)
	}
	h := &sender{done: make(chan error, 1)}
	if _, err := warm.Dial(wl.Addr().String(), h, engine.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	<-h.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := warm.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the warm-up's pool goroutines exit
	fdsBefore, gBefore := countFDs(t), runtime.NumGoroutine()

	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return toggler{} })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < cycles/4; i++ {
				h := &sender{done: make(chan error, 1)}
				if _, err := e.Dial(ln.Addr().String(), h, engine.DialOptions{}); err != nil {
					t.Errorf("Dial: %v", err)
					return
				}
				select {
				case <-h.done:
				case <-time.After(20 * time.Second):
					t.Errorf("no OnClose")
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fds, gs := countFDs(t), runtime.NumGoroutine()
		if fds <= fdsBefore && gs <= gBefore {
			t.Logf("fds %d -> %d, goroutines %d -> %d", fdsBefore, fds, gBefore, gs)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("leak: fds %d -> %d, goroutines %d -> %d\n%s", fdsBefore, fds, gBefore, gs, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling a bounded teardown, not synchronising
	}
}
