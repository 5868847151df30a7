package serial

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// fakeSock is a Socket whose kernel buffer the test controls: TryWrite
// takes at most room bytes, and the blocking Writev waits until open is
// closed, then takes everything (or fails with err).
type fakeSock struct {
	mu    sync.Mutex
	room  int
	tries int
	out   bytes.Buffer
	fin   bool
	open  chan struct{}
	err   error
}

func newFakeSock(room int) *fakeSock { return &fakeSock{room: room, open: make(chan struct{})} }

func (s *fakeSock) TryWrite(b []byte) (int, error) { return s.TryWritev([][]byte{b}) }

func (s *fakeSock) TryWritev(iov [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	n := 0
	for _, b := range iov {
		k := min(len(b), s.room)
		s.out.Write(b[:k])
		s.room -= k
		n += k
	}
	return n, nil
}

func (s *fakeSock) Writev(iov [][]byte) (int, error) {
	<-s.open
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for _, b := range iov {
		s.out.Write(b)
		n += len(b)
	}
	return n, nil
}

func (s *fakeSock) CloseWrite() error {
	s.mu.Lock()
	s.fin = true
	s.mu.Unlock()
	return nil
}

func (s *fakeSock) snapshot() (string, bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String(), s.fin, s.tries
}

// tconn is a connection around an OutQueue, with OnDrained and Fail
// recorded.
type tconn struct {
	mu sync.Mutex
	OutQueue
	g       loopkit.Group
	loop    *Loop
	drained chan struct{}
	failed  atomic.Value
}

func newTConn(limit, high, low int) *tconn {
	c := &tconn{drained: make(chan struct{}, 16)}
	c.loop = New(&c.g, 64)
	limits := engine.Config{OutQueueLimit: limit, OutQueueHighWater: high, OutQueueLowWater: low}
	c.Init(&c.mu, limits, OutConfig{
		Loop: c.loop, Group: &c.g,
		OnDrained: func() {
			if c.DrainDue() {
				c.drained <- struct{}{}
			}
		},
		Fail: func(err error) {
			c.failed.Store(err)
			c.mu.Lock()
			c.DiscardLocked()
			c.mu.Unlock()
		},
	})
	return c
}

func (c *tconn) connect(s Socket) {
	c.mu.Lock()
	c.ConnectLocked(s)
	c.mu.Unlock()
}

// A write the kernel takes whole never starts a flusher or queues a byte.
func TestOutQueueDirectWrite(t *testing.T) {
	c := newTConn(1000, 600, 200)
	s := newFakeSock(1 << 20)
	c.connect(s)
	if err := c.Write([]byte("hello ")); err != nil {
		t.Fatal(err)
	}
	if err := c.Writev([][]byte{[]byte("wor"), nil, []byte("ld")}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.snapshot(); got != "hello world" || c.OutQueued() != 0 {
		t.Fatalf("wrote %q, queued %d", got, c.OutQueued())
	}
	c.mu.Lock()
	flushing := c.flushing
	c.mu.Unlock()
	if flushing {
		t.Fatal("a flusher started for a write the kernel took")
	}
}

// The limit is all-or-nothing; a refused writer gets OnDrained once the
// flusher brings the queue to low water; bytes arrive in order.
func TestOutQueueBoundAndDrained(t *testing.T) {
	c := newTConn(1000, 600, 200)
	s := newFakeSock(100)
	c.connect(s)
	first := bytes.Repeat([]byte("a"), 700)
	if err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	if q := c.OutQueued(); q != 600 {
		t.Fatalf("queued %d, want 600 (the socket took 100)", q)
	}
	if err := c.Write(bytes.Repeat([]byte("b"), 401)); !errors.Is(err, engine.ErrOutQueueFull) {
		t.Fatalf("Write over the limit: %v", err)
	}
	if err := c.Writev([][]byte{bytes.Repeat([]byte("c"), 400)}); err != nil {
		t.Fatalf("Write up to the limit: %v", err)
	}
	if q := c.OutQueued(); q != 1000 {
		t.Fatalf("queued %d, want 1000", q)
	}
	select {
	case <-c.drained:
		t.Fatal("OnDrained before the queue fell")
	default:
	}
	close(s.open)
	select {
	case <-c.drained:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDrained after the queue emptied")
	}
	waitGroup(t, &c.g)
	got, _, _ := s.snapshot()
	if want := string(first) + string(bytes.Repeat([]byte("c"), 400)); got != want || c.OutQueued() != 0 {
		t.Fatalf("wrote %d bytes (queued %d), not the accepted ones in order", len(got), c.OutQueued())
	}
}

// Writes before the socket exists queue, with a FIN; connecting writes
// them, then the FIN; writes after CloseWrite fail.
func TestOutQueueConnectAndCloseWrite(t *testing.T) {
	c := newTConn(1000, 600, 200)
	if err := c.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.Write([]byte("late")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Write after CloseWrite: %v", err)
	}
	s := newFakeSock(0)
	close(s.open)
	c.connect(s)
	waitGroup(t, &c.g)
	if got, fin, _ := s.snapshot(); got != "early" || !fin {
		t.Fatalf("wrote %q, fin %v", got, fin)
	}
}

// While claimed, writes queue instead of being tried; the claim's end
// flushes them.
func TestOutQueueClaim(t *testing.T) {
	c := newTConn(1000, 600, 200)
	s := newFakeSock(1 << 20)
	close(s.open)
	c.connect(s)
	c.mu.Lock()
	if !c.FreeLocked() {
		t.Fatal("idle queue not free")
	}
	c.ClaimLocked()
	c.mu.Unlock()
	if err := c.Write([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	if got, _, tries := s.snapshot(); got != "" || tries != 0 {
		t.Fatalf("claimed socket was written: %q", got)
	}
	c.mu.Lock()
	c.UnclaimLocked()
	c.mu.Unlock()
	waitGroup(t, &c.g)
	if got, _, _ := s.snapshot(); got != "queued" {
		t.Fatalf("wrote %q after the claim", got)
	}
}

// A flusher's write error closes the connection through Fail.
func TestOutQueueFail(t *testing.T) {
	c := newTConn(1000, 600, 200)
	s := newFakeSock(0)
	s.err = errors.New("reset")
	close(s.open)
	c.connect(s)
	if err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, &c.g)
	if err, _ := c.failed.Load().(error); err == nil || err.Error() != "reset" {
		t.Fatalf("Fail got %v", err)
	}
	if err := c.Write([]byte("y")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Write after failure: %v", err)
	}
}
