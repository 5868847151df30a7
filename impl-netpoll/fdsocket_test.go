package netpollengine

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

type echoOpen struct {
	engine.BaseHandler
	opened chan struct{}
}

func (h *echoOpen) OnOpen(engine.Conn) { h.opened <- struct{}{} }

func (h *echoOpen) OnData(c engine.Conn, in []byte) int {
	_ = c.Write(append([]byte(nil), in...))
	return len(in)
}

// Each accepted socket is one descriptor once netpoll has it (before, the
// engine kept the TCPConn and netpoll a dup: two). The clients here are in
// the same process, so each connection adds two: the client's and the
// server's.
func TestOneDescriptorPerSocket(t *testing.T) {
	const n = 50
	e, err := New(engine.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	}()
	h := &echoOpen{opened: make(chan struct{}, n+1)}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return h })
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		<-h.opened
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	defer roundTrip().Close() // warm-up: pollers, the listener's first accept
	base := enginetest.OpenFDs(t)
	for range n {
		defer roundTrip().Close()
	}
	if got := enginetest.OpenFDs(t) - base; got > 2*n+2 {
		t.Errorf("%d connections added %d descriptors, want %d (client and server socket each)", n, got, 2*n)
	}
}

// afterFIN answers the peer's FIN with size bytes and its own FIN.
type afterFIN struct {
	engine.BaseHandler
	size int
}

func (h *afterFIN) OnReadEOF(c engine.Conn) {
	if err := c.Write(make([]byte, h.size)); err != nil {
		_ = c.Close() // the peer reads fewer bytes than size: the test fails
		return
	}
	_ = c.CloseWrite()
}

// After the peer's FIN netpoll closes its descriptor and the write side
// goes on over its own bare dup (fdsocket.go, letGo); a write that fills
// the socket turns that dup into the Go-poller fallback and waits there.
// The peer gets every byte, then EOF.
func TestWriteAfterPeerFIN(t *testing.T) {
	e, err := New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	}()
	for _, size := range []int{16, 3 << 20} { // within DefaultOutQueueLimit
		ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return &afterFIN{size: size} })
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		_ = c.(*net.TCPConn).CloseWrite()
		n, err := io.Copy(io.Discard, c)
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: read %d bytes, %v", size, n, err)
		}
		_ = c.Close()
		_ = ln.Close()
	}
}
