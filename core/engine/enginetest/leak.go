package enginetest

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Bounds of the leak checks' waits: cycleWait for a connection's OnClose
// (and for descriptors an engine closes while running), leakWait for a
// Shutdown and for the teardown of what Shutdown stopped.
const (
	cycleWait = 10 * time.Second
	leakWait  = 5 * time.Second
)

// LeakOptions tunes CheckConnectCloseNoLeak to an engine; the zero value
// takes the defaults.
type LeakOptions struct {
	// Config is the engine's configuration (zero fields: the defaults).
	Config engine.Config
	// Parallel is the most connections in flight at once (default 8).
	Parallel int
	// WarmUp, if set, runs before anything is counted. It creates what the
	// process keeps once created, which is no leak of the engine under
	// test: the Go runtime's poller fd, netpoll's pollers and task pool.
	WarmUp func(t *testing.T)
	// StrictFDs is for an engine that closes every descriptor itself: once
	// every connection has closed on both sides and the listener is
	// closed, the open fds must fall back to the count taken right after
	// New while the engine still runs (nothing may wait for Shutdown), and
	// as soon as Shutdown returns they must be exactly those before New.
	StrictFDs bool
	// Parked, if set, counts the goroutines the process keeps parked for
	// reuse (a bounded worker pool shared by every engine): how many a
	// run leaves depends on how many tasks overlapped, not on a leak, so
	// they are left out of both counts.
	Parked func() int
}

// CheckConnectCloseNoLeak runs n connect/close cycles (ConnectCloseCycles)
// on an engine made by newEngine and checks that the open fds (counted in
// /proc/self/fd) and the goroutines return to where they were before the
// engine was made once it has shut down (a bounded wait lets the runtime
// reap exited goroutines and close what the engine let go).
func CheckConnectCloseNoLeak(t *testing.T, newEngine Constructor, n int, opts LeakOptions) {
	t.Helper()
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	if opts.WarmUp != nil {
		opts.WarmUp(t)
	}
	gBefore := runtime.NumGoroutine() - countParked(opts.Parked)
	fdsBefore := OpenFDs(t)
	e, err := newEngine(opts.Config)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fdsEngine := OpenFDs(t)
	ConnectCloseCycles(t, e, n, parallel)
	fdsMid := OpenFDs(t)
	if opts.StrictFDs {
		// The listener's descriptor may go on a loop after Close; wait for
		// it without sleeping blindly.
		deadline := time.Now().Add(cycleWait)
		for fdsMid != fdsEngine && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			fdsMid = OpenFDs(t)
		}
		if fdsMid != fdsEngine {
			t.Errorf("open fds %d after %d cycles, %d before", fdsMid, n, fdsEngine)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), leakWait)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if opts.StrictFDs {
		if got := OpenFDs(t); got != fdsBefore {
			t.Errorf("open fds %d after Shutdown, %d before New", got, fdsBefore)
		}
	}
	fds, gs := WaitReleasedExcept(t, fdsBefore, gBefore, opts.Parked)
	t.Logf("%d cycles: fds %d -> %d (mid-run %d), goroutines %d -> %d", n, fdsBefore, fds, fdsMid, gBefore, gs)
}

// countParked calls p, if set.
func countParked(p func() int) int {
	if p == nil {
		return 0
	}
	return p()
}

// OpenFDs is the number of open file descriptors of the process; the test
// is skipped where /proc/self/fd cannot be read.
func OpenFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// WaitReleased waits, bounded, until the open fds and the goroutines are
// no more than fds and goroutines, and returns the counts then; otherwise
// it fails tb with every goroutine's stack.
func WaitReleased(tb testing.TB, fds, goroutines int) (int, int) {
	tb.Helper()
	return WaitReleasedExcept(tb, fds, goroutines, nil)
}

// WaitReleasedExcept is WaitReleased with the goroutines parked counts
// (LeakOptions.Parked; nil: none) left out of the goroutine count.
func WaitReleasedExcept(tb testing.TB, fds, goroutines int, parked func() int) (int, int) {
	tb.Helper()
	deadline := time.Now().Add(leakWait)
	for {
		f, g := OpenFDs(tb), runtime.NumGoroutine()-countParked(parked)
		if f <= fds && g <= goroutines {
			return f, g
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			tb.Fatalf("leak: fds %d -> %d, goroutines %d -> %d\n%s",
				fds, f, goroutines, g, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling a bounded teardown, not synchronising
	}
}

// ConnectCloseCycles makes n connections to a listener of e, at most
// parallel at a time: each client closes in OnOpen, each server side
// closes at read EOF (as BaseHandler does). It returns once both sides of
// every connection have reported OnClose, the clients with a nil error, and
// the listener is closed; a side that does not report in time fails tb.
func ConnectCloseCycles(tb testing.TB, e engine.Engine, n, parallel int) {
	tb.Helper()
	var servers sync.WaitGroup
	servers.Add(n)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return &eofCloser{wg: &servers} })
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	defer func() { _ = ln.Close() }()
	addr := ln.Addr().String()
	slots := make(chan struct{}, parallel)
	errs := make(chan error, 1) // the first client OnClose error
	var clients sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case slots <- struct{}{}:
		default:
			timer := time.NewTimer(cycleWait)
			select {
			case slots <- struct{}{}:
				timer.Stop()
			case <-timer.C:
				tb.Fatalf("cycle %d: no OnClose from any of %d connections in %v", i, parallel, cycleWait)
			}
		}
		clients.Add(1)
		h := &closeOnOpen{closed: func(err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
			<-slots
			clients.Done()
		}}
		if _, err := e.Dial(addr, h, engine.DialOptions{}); err != nil {
			tb.Fatalf("Dial %d: %v", i, err)
		}
	}
	waitGroup(tb, &clients, cycleWait, "client OnClose")
	select {
	case err := <-errs:
		tb.Fatalf("client OnClose: %v", err)
	default:
	}
	waitGroup(tb, &servers, 3*cycleWait, "server OnClose")
}

// closeOnOpen is the client side: it closes as soon as it opens.
type closeOnOpen struct {
	engine.BaseHandler
	closed func(error)
}

func (h *closeOnOpen) OnOpen(c engine.Conn)             { _ = c.Close() }
func (h *closeOnOpen) OnClose(_ engine.Conn, err error) { h.closed(err) }

// eofCloser is the server side: BaseHandler closes at read EOF, that is
// when the client does.
type eofCloser struct {
	engine.BaseHandler
	wg *sync.WaitGroup
}

func (h *eofCloser) OnClose(engine.Conn, error) { h.wg.Done() }

func waitGroup(tb testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	tb.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		tb.Fatalf("timed out waiting for %s", what)
	}
}
