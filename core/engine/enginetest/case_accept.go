package enginetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// pauseWindow is how long PauseAccept watches a paused listener for an
// accept that should not come. It is an observation, not a
// synchronisation: every wait that decides the case is on a channel.
const pauseWindow = 200 * time.Millisecond

// Spec: "Pausing a listener". A paused listener accepts nothing (also
// when its accept was already waiting, as a goroutine acceptor's is after
// a first client): clients connect into the backlog and their bytes wait
// there; Resume accepts them, oldest first, and they are served. Pause
// and Resume are idempotent and do nothing after Close.
func testPauseAccept(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	var accepted atomic.Int32
	srv := newHandlers(8)
	ln, addr := k.listen(e, func(engine.Conn) engine.Handler {
		accepted.Add(1)
		h := newHandler(t, "echo-server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			if err := c.Write(in); err != nil && !errors.Is(err, engine.ErrClosed) {
				t.Errorf("echo-server Write: %v", err)
			}
			return len(in)
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		srv.add(h)
		return h
	})
	// echoed dials a client that writes msg once open and reports the
	// echo on the returned channel.
	echoed := func(msg string) (*handler, <-chan struct{}) {
		got := make(chan struct{})
		var mu sync.Mutex
		var buf []byte
		cl := newHandler(t, "client "+msg, nil)
		cl.open = func(c engine.Conn) {
			if err := c.Write([]byte(msg)); err != nil {
				t.Errorf("client %s Write: %v", msg, err)
			}
		}
		cl.data = func(c engine.Conn, in []byte) int {
			mu.Lock()
			defer mu.Unlock()
			if buf = append(buf, in...); string(buf) == msg {
				close(got)
			}
			return len(in)
		}
		k.dial(e, addr, cl, engine.DialOptions{})
		return cl, got
	}

	// A first client: the accept path is now idle, waiting for the next.
	first, got := echoed("first")
	wait(t, got, "echo of the first client")

	ln.Pause()
	ln.Pause() // idempotent
	const n = 3
	var held []*handler
	var heldGot []<-chan struct{}
	for i := range n {
		cl, got := echoed(fmt.Sprintf("held %d", i))
		held, heldGot = append(held, cl), append(heldGot, got)
	}
	// Each connects (the backlog completes the handshake) and sends.
	for i, cl := range held {
		wait(t, cl.openedCh, fmt.Sprintf("client %d's connect while the listener is paused", i))
	}
	deadline := time.NewTimer(pauseWindow)
	for i := 0; i < n; i++ {
		select {
		case <-heldGot[i]:
			t.Fatalf("client %d echoed while the listener was paused", i)
		case <-deadline.C:
			i = n
		}
	}
	if a := accepted.Load(); a != 1 {
		t.Fatalf("%d connections accepted while paused, want only the first one", a-1)
	}

	ln.Resume()
	ln.Resume() // idempotent
	for i, got := range heldGot {
		wait(t, got, fmt.Sprintf("echo of held client %d after Resume", i))
	}
	if a := accepted.Load(); a != n+1 {
		t.Fatalf("%d connections accepted, want %d", a, n+1)
	}
	// The listener still serves as before.
	_, got = echoed("after")
	wait(t, got, "echo of a client after Resume")

	// After Close, Pause and Resume do nothing; accepted connections stay.
	if err := ln.Close(); err != nil {
		t.Fatalf("listener Close: %v", err)
	}
	ln.Pause()
	ln.Resume()
	if first.closes.Load() != 0 {
		t.Fatalf("the first client was closed by the listener's Pause, Resume or Close")
	}
}

// Spec: "Pausing a listener" (AcceptBudget). A listener under a budget of
// two accepts two clients and holds the next ones in the backlog; each
// unit given back lets exactly one more in, oldest first.
func testAcceptBudget(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	var accepted atomic.Int32
	opened := make(chan struct{}, 8)
	ln, addr := k.listen(e, func(engine.Conn) engine.Handler {
		accepted.Add(1)
		h := newHandler(t, "server", nil)
		h.open = func(engine.Conn) { opened <- struct{}{} }
		return h
	})
	b := engine.NewAcceptBudget(2)
	ln.SetBudget(b)
	const n = 4
	for i := range n {
		cl := newHandler(t, fmt.Sprintf("client %d", i), nil)
		k.dial(e, addr, cl, engine.DialOptions{})
		wait(t, cl.openedCh, fmt.Sprintf("client %d's connect", i))
	}
	accept := func(what string) {
		t.Helper()
		select {
		case <-opened:
		case <-time.After(waitTimeout):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	accept("the first accept")
	accept("the second accept")
	// The budget is spent: nothing more comes (observed for pauseWindow).
	select {
	case <-opened:
		t.Fatalf("a third connection accepted with a budget of 2")
	case <-time.After(pauseWindow):
	}
	if left := b.Left(); left != 0 {
		t.Fatalf("budget left %d after two accepts, want 0", left)
	}
	for i := 2; i < n; i++ {
		b.Give(1)
		accept(fmt.Sprintf("accept %d after a unit was given back", i+1))
		select {
		case <-opened:
			t.Fatalf("two connections accepted for one unit given back")
		case <-time.After(pauseWindow / 4):
		}
	}
	if a := accepted.Load(); a != n {
		t.Fatalf("%d accepted, want %d", a, n)
	}
}
