package netpollengine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// TestConnectCloseNoLeak runs connect/close cycles and checks that open
// fds (each connection holds two: netpoll's dup and the TCPConn) and
// goroutines return to where they were once the engine has shut down.
// netpoll's pollers are process-wide and outlive engines, so a warm-up
// engine creates them before the counts are taken.
func TestConnectCloseNoLeak(t *testing.T) {
	enginetest.CheckConnectCloseNoLeak(t, New, 3000, enginetest.LeakOptions{
		Parallel: 4,
		WarmUp: func(t *testing.T) {
			warm, err := New(engine.Config{})
			if err != nil {
				t.Fatal(err)
			}
			enginetest.ConnectCloseCycles(t, warm, 8, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := warm.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		},
		Parked: parkedWorkers,
	})
}

// parkedWorkers counts runner.go's task workers parked for reuse (at most
// maxIdleWorkers, process-wide): how many a test leaves depends on how many
// tasks overlapped, which load decides, so the leak checks leave them out.
func parkedWorkers() int { return int(idleWorkers.Load()) }

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
	fdsBefore, gBefore := enginetest.OpenFDs(t), runtime.NumGoroutine()-parkedWorkers()

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
	// A context of its own: the cycles may take longer than the warm-up's
	// 5 s on a loaded machine, and Shutdown's bound is about Shutdown.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := e.Shutdown(ctx2); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	fds, gs := enginetest.WaitReleasedExcept(t, fdsBefore, gBefore, parkedWorkers)
	t.Logf("fds %d -> %d, goroutines %d -> %d (without parked task workers)", fdsBefore, fds, gBefore, gs)
}
