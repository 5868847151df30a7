package netpollengine

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// These tests check the two memory bounds netpoll does not give by itself
// (spec/engine.md, "netpoll"): a paused reader must stop netpoll's poller
// from reading (so its LinkBuffer stays small and TCP pushes back on the
// peer), and a peer that does not read must leave our out-queue at its
// limit, never above.

const boundTimeout = 20 * time.Second

func shutdownAtEnd(t *testing.T, e engine.Engine) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// listenAndDial starts an engine with the default config that serves
// every connection with h, and dials it with package net: the listener
// and the client side, which closes in t.Cleanup (before the engine's
// Shutdown).
func listenAndDial(t *testing.T, h engine.Handler) (engine.Listener, net.Conn) {
	t.Helper()
	_, ln, cl := listenAndDialWith(t, engine.Config{}, h)
	return ln, cl
}

// listenAndDialWith is listenAndDial on an engine with cfg, which it
// returns too.
func listenAndDialWith(t *testing.T, cfg engine.Config, h engine.Handler) (engine.Engine, engine.Listener, net.Conn) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return h })
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return e, ln, cl
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// pausedServer pauses reading in OnOpen or in the first OnData, checks
// and counts what it is given, and publishes each accepted conn.
type pausedServer struct {
	engine.BaseHandler
	t         *testing.T
	inData    bool // pause in the first OnData instead of OnOpen
	conns     chan *conn
	paused    atomic.Bool
	got       atomic.Int64
	corrupted atomic.Bool
}

func (h *pausedServer) OnOpen(c engine.Conn) {
	if !h.inData {
		c.PauseRead()
		h.paused.Store(true)
	}
	h.conns <- c.(*conn)
}

func (h *pausedServer) OnData(c engine.Conn, in []byte) int {
	if h.paused.Load() {
		h.t.Errorf("OnData while paused")
	}
	off := h.got.Load()
	for i, b := range in {
		if b != byte((off+int64(i))%251) {
			h.corrupted.Store(true)
			break
		}
	}
	h.got.Add(int64(len(in)))
	if h.inData && off == 0 {
		c.PauseRead()
		h.paused.Store(true)
	}
	return len(in)
}

// netpollBuffered is what netpoll holds unconsumed for c.
func netpollBuffered(c *conn) int {
	c.Mu.Lock()
	a := c.att
	c.Mu.Unlock()
	if a == nil {
		return 0
	}
	return a.nc.Reader().Len()
}

// TestPausedReaderBounded: a plain TCP client writes as fast as it can to
// a connection whose handler paused reading. The writer must block (TCP
// backpressure reached it), netpoll's buffer for the connection must stay
// within readAheadLimit plus one read, and the heap must not grow with
// what the client tried to send. After ResumeRead every byte arrives, in
// order.
func TestPausedReaderBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inData bool
	}{{"PauseInOnOpen", false}, {"PauseInOnData", true}} {
		t.Run(tc.name, func(t *testing.T) { testPausedReader(t, tc.inData) })
	}
}

func testPausedReader(t *testing.T, inData bool) {
	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	srv := &pausedServer{t: t, inData: inData, conns: make(chan *conn, 1)}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return srv })
	if err != nil {
		t.Fatal(err)
	}
	heap0 := heapInUse()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc := <-srv.conns

	const attempt = 512 << 20
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 256<<10)
		for written.Load() < attempt {
			off := written.Load()
			for i := range chunk {
				chunk[i] = byte((off + int64(i)) % 251)
			}
			_ = cl.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := cl.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	select {
	case err := <-werr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client write ended with %v after %d bytes, want a deadline: nothing pushed back", err, written.Load())
		}
	case <-time.After(boundTimeout):
		t.Fatalf("client write neither blocked nor finished")
	}
	buffered := netpollBuffered(sc)
	heap1 := heapInUse()
	t.Logf("client wrote %d KiB before blocking; netpoll buffers %d KiB; heap grew %d KiB",
		written.Load()>>10, buffered>>10, (int64(heap1)-int64(heap0))>>10)
	// The poller stops after the read that found the pause (at most
	// ReadBufferSize) or passed the read-ahead bound.
	if limit := sc.eng.readAheadLimit + sc.eng.cfg.ReadBufferSize; buffered > limit {
		t.Errorf("netpoll buffered %d bytes while paused, want <= %d", buffered, limit)
	}
	if written.Load() > 64<<20 {
		t.Errorf("client wrote %d MiB into a paused connection: the pause did not reach TCP", written.Load()>>20)
	}
	if grew := int64(heap1) - int64(heap0); grew > 32<<20 {
		t.Errorf("heap grew %d MiB while the client pushed into a paused connection", grew>>20)
	}

	if err := sc.Execute(func() { srv.paused.Store(false); sc.ResumeRead() }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(boundTimeout)
	for srv.got.Load() < written.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a counter, not synchronising
	}
	if g, w := srv.got.Load(), written.Load(); g != w {
		t.Errorf("after ResumeRead the server got %d of %d bytes", g, w)
	}
	if srv.corrupted.Load() {
		t.Errorf("stream corrupted across the pause")
	}
}

// TestSlowPeerBounded: the engine writes to a plain TCP server that never
// reads. Writes must be refused with ErrOutQueueFull at OutQueueLimit and
// OutQueued must never pass it; the heap must not grow with what the
// writer tried to send.
func TestSlowPeerBounded(t *testing.T) {
	const limit = 1 << 20
	e, err := New(engine.Config{OutQueueLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	go func() {
		c, err := pl.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { _ = c.Close() })
		// Never read.
	}()

	heap0 := heapInUse()
	var accepted, refused, maxQueued atomic.Int64
	stalled := make(chan struct{})
	h := &pumpHandler{chunk: make([]byte, 64<<10), attempt: 512 << 20, accepted: &accepted, refused: &refused, maxQueued: &maxQueued, limit: limit, t: t}
	c, err := e.Dial(pl.Addr().String(), h, engine.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Stalled: refused at least once and no progress for a while.
	go func() {
		last, quiet := int64(-1), 0
		for range time.Tick(25 * time.Millisecond) {
			a := accepted.Load()
			if a == last && refused.Load() > 0 {
				if quiet++; quiet >= 8 {
					close(stalled)
					return
				}
			} else {
				quiet = 0
			}
			last = a
		}
	}()
	select {
	case <-stalled:
	case <-time.After(boundTimeout):
		t.Fatalf("writer never stalled (accepted %d bytes)", accepted.Load())
	}
	heap1 := heapInUse()
	t.Logf("accepted %d KiB before stalling; max OutQueued %d KiB; heap grew %d KiB",
		accepted.Load()>>10, maxQueued.Load()>>10, (int64(heap1)-int64(heap0))>>10)
	if q := c.OutQueued(); q > limit {
		t.Errorf("OutQueued %d above OutQueueLimit %d", q, limit)
	}
	if m := maxQueued.Load(); m > limit {
		t.Errorf("OutQueued reached %d, above OutQueueLimit %d", m, limit)
	}
	if accepted.Load() >= h.attempt {
		t.Errorf("all %d bytes accepted by a peer that never reads", h.attempt)
	}
	if grew := int64(heap1) - int64(heap0); grew > 32<<20 {
		t.Errorf("heap grew %d MiB while writing to a peer that never reads", grew>>20)
	}
	_ = c.Close()
}

// pumpHandler writes until refused, and again at each OnDrained.
type pumpHandler struct {
	engine.BaseHandler
	t                            *testing.T
	chunk                        []byte
	attempt                      int64
	limit                        int
	accepted, refused, maxQueued *atomic.Int64
}

func (h *pumpHandler) OnOpen(c engine.Conn)    { h.fill(c) }
func (h *pumpHandler) OnDrained(c engine.Conn) { h.fill(c) }

func (h *pumpHandler) fill(c engine.Conn) {
	for h.accepted.Load() < h.attempt {
		err := c.Write(h.chunk)
		if q := int64(c.OutQueued()); q > h.maxQueued.Load() {
			h.maxQueued.Store(q)
		}
		switch {
		case err == nil:
			h.accepted.Add(int64(len(h.chunk)))
		case errors.Is(err, engine.ErrOutQueueFull):
			h.refused.Add(1)
			return
		default:
			h.t.Errorf("Write: %v", err)
			return
		}
	}
}

// gatedConsumer checks and counts what it is given; while gate is open
// (not nil) its first OnData blocks on it: a handler slower than any
// sender, taken to the extreme (handlers must not block, but only this
// connection's deliveries wait, which is the point).
type gatedConsumer struct {
	engine.BaseHandler
	conns     chan *conn
	gate      chan struct{}
	got       atomic.Int64
	corrupted atomic.Bool
	sum       [32]byte // loop only
}

func (h *gatedConsumer) OnOpen(c engine.Conn) { h.conns <- c.(*conn) }

func (h *gatedConsumer) OnData(_ engine.Conn, in []byte) int {
	if h.gate != nil {
		<-h.gate
		h.gate = nil
	}
	off := h.got.Load()
	for i, b := range in {
		if b != byte((off+int64(i))%251) {
			h.corrupted.Store(true)
			break
		}
	}
	h.sum = sha256.Sum256(append(h.sum[:], in...)) // slower than loopback
	h.got.Add(int64(len(in)))
	return len(in)
}

// TestReadAheadBounded: netpoll reads as long as the fd is in epoll; with
// a handler slower than the sender its LinkBuffer would grow with the
// whole stream. The poller takes the fd out of epoll after the read that
// passes readAheadLimit, so netpoll holds more than readAheadLimit only by
// that one read (ReadBufferSize), and TCP pushes back on the sender.
//
// First the handler blocks: the buffer must then fill past readAheadLimit
// (the bound is reached, not just respected) and stop within one read,
// and the sender must block. Then the handler consumes, slower than the
// sender, through many stops and restarts, with the bound sampled. The
// test waits for progress, not for a speed: a loaded machine only makes
// it longer.
func TestReadAheadBounded(t *testing.T) {
	gate := make(chan struct{})
	srv := &gatedConsumer{conns: make(chan *conn, 1), gate: gate}
	_, cl := listenAndDial(t, srv)
	sc := <-srv.conns
	limit, oneRead := sc.eng.readAheadLimit, sc.eng.cfg.ReadBufferSize

	const total = 16 << 20
	var sent atomic.Int64
	stalled := make(chan struct{})
	go func() {
		chunk := make([]byte, 64<<10)
		for sent.Load() < total {
			off := sent.Load()
			for i := range chunk {
				chunk[i] = byte((off + int64(i)) % 251)
			}
			for b := chunk[:min(len(chunk), total-int(off))]; len(b) > 0; {
				_ = cl.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				n, err := cl.Write(b)
				sent.Add(int64(n))
				b = b[n:]
				if errors.Is(err, os.ErrDeadlineExceeded) {
					select {
					case <-stalled:
					default:
						close(stalled) // blocked: TCP pushed back
					}
				} else if err != nil {
					return
				}
			}
		}
	}()
	select {
	case <-stalled:
	case <-time.After(boundTimeout):
		t.Fatalf("the sender never blocked (sent %d bytes)", sent.Load())
	}
	// The sender blocks once the kernel's buffers are full, which they are
	// only once the poller stopped reading: right after the read that
	// passed the limit. (A write deadline can also expire on a starved
	// machine before the write is tried: then wait for the stop itself.)
	buffered := netpollBuffered(sc)
	for deadline := time.Now().Add(boundTimeout); buffered <= limit && time.Now().Before(deadline); buffered = netpollBuffered(sc) {
		time.Sleep(time.Millisecond) // sampling, not synchronising
	}
	t.Logf("handler blocked: sender blocked after %d KiB; netpoll buffers %d KiB (read-ahead limit %d KiB, one read %d KiB)",
		sent.Load()>>10, buffered>>10, limit>>10, oneRead>>10)
	if buffered <= limit || buffered > limit+oneRead {
		t.Errorf("netpoll buffered %d bytes for a blocked handler, want more than %d (the bound reached) and at most %d", buffered, limit, limit+oneRead)
	}
	if sent.Load() >= total {
		t.Errorf("the whole stream went into a connection whose handler is blocked: nothing pushed back")
	}

	close(gate)
	maxBuffered, last, lastMove := 0, int64(-1), time.Now()
	for srv.got.Load() < total {
		if g := srv.got.Load(); g != last {
			last, lastMove = g, time.Now()
		} else if time.Since(lastMove) > boundTimeout {
			t.Fatalf("no progress for %v: received %d of %d bytes", boundTimeout, g, total)
		}
		maxBuffered = max(maxBuffered, netpollBuffered(sc))
		time.Sleep(time.Millisecond) // sampling, not synchronising
	}
	t.Logf("then received %d MiB; netpoll buffered at most %d KiB", srv.got.Load()>>20, maxBuffered>>10)
	if maxBuffered > limit+oneRead {
		t.Errorf("netpoll buffered %d bytes for a slow handler, want <= %d", maxBuffered, limit+oneRead)
	}
	if srv.corrupted.Load() {
		t.Errorf("stream corrupted")
	}
}
