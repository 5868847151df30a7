package serial

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// stepClock is a fake clock.Clock: it records every wait asked of it and
// fires at once, unless hold is set, in which case the wait never fires
// and waiting is closed when it starts.
type stepClock struct {
	mu      sync.Mutex
	waits   []time.Duration
	hold    bool
	waiting chan struct{}
}

func (c *stepClock) Now() time.Time { return time.Unix(0, 0) }

func (c *stepClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	hold := c.hold
	c.mu.Unlock()
	if hold {
		close(c.waiting)
		return func() bool { return true }
	}
	f()
	return func() bool { return false }
}

// script feeds Serve a fixed list of accept results, then net.ErrClosed.
func script(results ...any) func() (int, error) {
	i := 0
	return func() (int, error) {
		if i == len(results) {
			return 0, net.ErrClosed
		}
		r := results[i]
		i++
		if err, ok := r.(error); ok {
			return 0, err
		}
		return r.(int), nil
	}
}

// wrapped is an accept error as package net returns it.
func wrapped(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func ms(ds ...int) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d) * time.Millisecond
	}
	return out
}

// Out of descriptors, the loop waits 5 ms doubling to 1 s, never stops,
// accepts again once descriptors are back, and starts over at 5 ms after
// a success.
func TestAcceptorBackOff(t *testing.T) {
	clk := &stepClock{}
	a := &Acceptor{Clock: clk}
	var results []any
	for range 10 {
		results = append(results, wrapped(syscall.EMFILE))
	}
	results = append(results, 1, wrapped(syscall.ENFILE), syscall.ENOBUFS, 2)
	var got []int
	Serve(a, script(results...), func(c int) error { got = append(got, c); return nil }, func(int) { t.Error("closed a connection") })
	if want := []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	want := ms(5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 5, 10)
	if !slices.Equal(clk.waits, want) {
		t.Errorf("waits %v, want %v", clk.waits, want)
	}
}

// A connection that failed on its way in is skipped at once: no wait, and
// the listener goes on (rawepoll once stopped listening on EPROTO).
func TestAcceptorSkips(t *testing.T) {
	clk := &stepClock{}
	a := &Acceptor{Clock: clk}
	var got []int
	Serve(a, script(wrapped(syscall.ECONNABORTED), 1, syscall.EPROTO, wrapped(syscall.EPERM), syscall.ENETUNREACH, 2),
		func(c int) error { got = append(got, c); return nil }, func(int) {})
	if want := []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	if len(clk.waits) != 0 {
		t.Errorf("waited %v for skippable errors", clk.waits)
	}
}

// A socket whose hand-over ran out of descriptors is held and offered
// again after the back-off, not reset; other hand-over errors are the
// handler's to deal with.
func TestAcceptorHoldsSocket(t *testing.T) {
	clk := &stepClock{}
	a := &Acceptor{Clock: clk}
	tries := map[int]int{}
	Serve(a, script(1, 2), func(c int) error {
		tries[c]++
		if c == 1 && tries[c] <= 3 {
			return fmt.Errorf("attach: %w", syscall.EMFILE)
		}
		if c == 2 {
			return errors.New("handshake refused")
		}
		return nil
	}, func(c int) { t.Errorf("closed %d", c) })
	if tries[1] != 4 || tries[2] != 1 {
		t.Errorf("tries %v, want 1:4 2:1", tries)
	}
	if want := ms(5, 10, 20); !slices.Equal(clk.waits, want) {
		t.Errorf("waits %v, want %v", clk.waits, want)
	}
}

// Stop during a back-off ends the loop and closes the socket it held.
func TestAcceptorStopDuringWait(t *testing.T) {
	clk := &stepClock{hold: true, waiting: make(chan struct{})}
	a := &Acceptor{Clock: clk}
	closed := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(a, script(7), func(int) error { return syscall.EMFILE }, func(c int) { closed <- c })
	}()
	<-clk.waiting
	a.Stop()
	<-done
	if c := <-closed; c != 7 {
		t.Errorf("closed %d, want 7", c)
	}
	a.Stop() // idempotent
}

func TestClassifyAcceptError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want AcceptClass
	}{
		{net.ErrClosed, AcceptStop},
		{&net.OpError{Op: "accept", Err: net.ErrClosed}, AcceptStop},
		{syscall.EINVAL, AcceptStop},
		{syscall.EBADF, AcceptStop},
		{syscall.ECONNABORTED, AcceptSkip},
		{wrapped(syscall.EPROTO), AcceptSkip},
		{syscall.EPERM, AcceptSkip},
		{wrapped(syscall.EMFILE), AcceptBackOff},
		{syscall.ENFILE, AcceptBackOff},
		{syscall.ENOMEM, AcceptBackOff},
		{errors.New("something new"), AcceptBackOff},
	} {
		if got := ClassifyAcceptError(tc.err); got != tc.want {
			t.Errorf("ClassifyAcceptError(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Over a real listener: the loop ends when the listener closes.
func TestAcceptorServeTCP(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var a Acceptor
	got := make(chan *net.TCPConn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ServeTCP(ln, func(tc *net.TCPConn) error { got <- tc; return nil })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	ln.Close()
	<-done
}

// A paused loop, or one whose budget is spent, makes no accept call; a
// Give or a Resume lets exactly the accepts allowed through, and Stop ends
// a waiting loop.
func TestAcceptorPauseAndBudget(t *testing.T) {
	var a Acceptor
	b := engine.NewAcceptBudget(1)
	a.SetBudget(b)
	calls := make(chan struct{}, 8)
	accept := func() (int, error) {
		calls <- struct{}{}
		return 1, nil
	}
	handled := make(chan struct{}, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(&a, accept, func(int) error { handled <- struct{}{}; return nil }, func(int) {})
	}()
	<-handled // the one unit
	noCall := func(why string) {
		t.Helper()
		select {
		case <-calls:
		default:
		}
		select {
		case <-calls:
			t.Fatalf("accept called %s", why)
		case <-time.After(50 * time.Millisecond):
		}
	}
	noCall("with the budget spent")
	a.Pause()
	b.Give(1) // paused: the unit waits
	noCall("while paused")
	a.Resume()
	<-handled
	noCall("after the unit given back was used")
	if left := b.Left(); left != 0 {
		t.Fatalf("budget left %d, want 0", left)
	}
	a.Stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end a loop waiting for its budget")
	}
}
