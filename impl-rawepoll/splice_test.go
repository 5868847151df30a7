package rawepoll

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// funcHandler is a handler built from functions, for focused tests.
type funcHandler struct {
	engine.BaseHandler
	open    func(engine.Conn)
	data    func(engine.Conn, []byte) int
	eof     func(engine.Conn)
	drained func(engine.Conn)
	closed  func(engine.Conn, error)
}

func (h *funcHandler) OnOpen(c engine.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *funcHandler) OnData(c engine.Conn, in []byte) int {
	if h.data != nil {
		return h.data(c, in)
	}
	return len(in)
}

func (h *funcHandler) OnReadEOF(c engine.Conn) {
	if h.eof != nil {
		h.eof(c)
		return
	}
	_ = c.Close()
}

func (h *funcHandler) OnDrained(c engine.Conn) {
	if h.drained != nil {
		h.drained(c)
	}
}

func (h *funcHandler) OnClose(c engine.Conn, err error) {
	if h.closed != nil {
		h.closed(c, err)
	}
}

func shutdownEngine(t *testing.T, e engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestSpliceBackpressure relays 40 MiB from a client through a proxy
// pair into a sink that pauses reading for a while: the relay must stop
// taking bytes from the source (nothing piles up in the engine), resume
// when the sink reads again, deliver every byte in order, and give its
// pipe back to the pool. It runs with splice(2) and with the buffered
// fallback.
func TestSpliceBackpressure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noSplice bool
	}{{"Splice", false}, {"Buffered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			testSpliceBackpressure(t, tc.noSplice)
		})
	}
}

func testSpliceBackpressure(t *testing.T, noSplice bool) {
	const total = 40 << 20 // more than every kernel buffer on the path can hold
	e, err := newEngine(engine.Config{Workers: 2}, options{noSplice: noSplice})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownEngine(t, e)

	var sinkGot int
	var sinkBad bool
	sinkEOF := make(chan struct{})
	resumeSink := make(chan engine.Conn, 1)
	sinkLn, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &funcHandler{
			open: func(c engine.Conn) {
				c.PauseRead() // a slow consumer to begin with
				resumeSink <- c
			},
			data: func(c engine.Conn, in []byte) int {
				for i, b := range in {
					if b != byte((sinkGot+i)%251) {
						sinkBad = true
					}
				}
				sinkGot += len(in)
				return len(in)
			},
			eof: func(c engine.Conn) { close(sinkEOF); _ = c.Close() },
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var spliced int64
	var spliceErr error
	splicedCh := make(chan struct{})
	var front engine.Conn
	proxyLn, err := e.Listen("127.0.0.1:0", func(fc engine.Conn) engine.Handler {
		return &funcHandler{open: func(fc engine.Conn) {
			front = fc
			back, err := e.Dial(sinkLn.Addr().String(), &funcHandler{open: func(bc engine.Conn) {
				if err := fc.(engine.Splicer).Splice(bc, -1, func(n int64, err error) {
					spliced, spliceErr = n, err
					_ = bc.CloseWrite()
					close(splicedCh)
				}); err != nil {
					t.Errorf("Splice: %v", err)
				}
			}}, engine.DialOptions{Near: fc})
			if err != nil {
				t.Errorf("Dial: %v", err)
				_ = back
			}
		}}
	})
	if err != nil {
		t.Fatal(err)
	}

	// The client is a plain socket, written from this goroutine.
	cl, err := net.Dial("tcp", proxyLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	payload := make([]byte, total)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	written := make(chan int, 1)
	go func() {
		n, _ := cl.Write(payload)
		written <- n
		_ = cl.(*net.TCPConn).CloseWrite()
	}()

	sink := <-resumeSink
	// While the sink is paused, the client must get stuck: the kernel
	// buffers along the way fill and the relay stops reading.
	select {
	case n := <-written:
		t.Fatalf("client wrote all %d bytes into a paused sink", n)
	case <-time.After(300 * time.Millisecond):
	}
	if err := sink.Execute(func() { sink.ResumeRead() }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-splicedCh:
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not finish")
	}
	select {
	case <-sinkEOF:
	case <-time.After(30 * time.Second):
		t.Fatal("sink saw no EOF")
	}
	if spliceErr != nil || spliced != total {
		t.Fatalf("relay done(%d, %v), want (%d, nil)", spliced, spliceErr, total)
	}
	if sinkGot != total || sinkBad {
		t.Fatalf("sink got %d bytes (corrupt: %v), want %d intact", sinkGot, sinkBad, total)
	}
	_ = front.Close()
	e.pipes.mu.Lock()
	n, free := e.pipes.n, len(e.pipes.free)
	e.pipes.mu.Unlock()
	if noSplice && n != 0 {
		t.Fatalf("buffered relay created %d pipes", n)
	}
	if !noSplice && (n != 1 || free != 1) {
		t.Fatalf("pipe pool holds %d pipes, %d free; want 1 and 1 after one relay", n, free)
	}
}

// TestPipePoolBound: the pool never holds more than maxPipes; a relay that
// finds none copies instead (get returns nil).
func TestPipePoolBound(t *testing.T) {
	p := &pipePool{max: 2}
	defer p.close()
	a, b := p.get(), p.get()
	if a == nil || b == nil {
		t.Fatal("pool refused pipes under its bound")
	}
	if c := p.get(); c != nil {
		t.Fatal("pool handed out a pipe past maxpipes")
	}
	p.put(a)
	if c := p.get(); c != a {
		t.Fatal("a returned pipe was not reused")
	}
	p.put(a)
	p.put(b)
	p.disable()
	if c := p.get(); c != nil {
		t.Fatal("disabled pool handed out a pipe")
	}
}

// TestDialTimeout: a connect that gets no answer (the listener's accept
// queue is full, so the kernel drops the SYN) ends in OnClose with a
// timeout *net.OpError after DialOptions.Timeout.
func TestDialTimeout(t *testing.T) {
	addr := enginetest.StalledAddr(t)
	e, err := New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownEngine(t, e)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	const n = 4
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := e.Dial(addr, &funcHandler{
			open: func(c engine.Conn) { _ = c.Close() },
			closed: func(_ engine.Conn, err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				wg.Done()
			},
		}, engine.DialOptions{Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitGroup(t, &wg, "dial results")
	timeouts := 0
	for _, err := range errs {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
		}
	}
	if timeouts == 0 {
		t.Fatalf("no dial timed out: %v", errs)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("timeouts reported after %v, before the 200ms timeout", d)
	}
}

// waitGroup waits for wg, bounded.
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
