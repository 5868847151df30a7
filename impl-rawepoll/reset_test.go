package rawepoll

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// TestPeerReset: a peer that aborts (SO_LINGER 0, so RST instead of FIN)
// ends the connection with OnClose carrying ECONNRESET (or EPIPE, if a
// write got there first) as a *net.OpError, not with OnReadEOF; and the
// process gets no SIGPIPE from writing to it.
func TestPeerReset(t *testing.T) {
	e, err := New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownEngine(t, e)
	closed := make(chan error, 1)
	opened := make(chan engine.Conn, 1)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &funcHandler{
			open:   func(c engine.Conn) { opened <- c },
			eof:    func(engine.Conn) { t.Error("OnReadEOF for a reset") },
			closed: func(_ engine.Conn, err error) { closed <- err },
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := <-opened
	_ = cl.(*net.TCPConn).SetLinger(0)
	_ = cl.Close()
	// Keep writing: the first writes may still be accepted, later ones
	// meet the reset (EPIPE without MSG_NOSIGNAL would kill the process).
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-closed:
			var op *net.OpError
			if !errors.As(err, &op) || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
				t.Fatalf("OnClose(%v), want a *net.OpError with ECONNRESET or EPIPE", err)
			}
			return
		case <-deadline:
			t.Fatal("no OnClose after the peer's reset")
		default:
		}
		if err := c.Write(make([]byte, 1024)); err != nil && !errors.Is(err, engine.ErrClosed) && !errors.Is(err, engine.ErrOutQueueFull) {
			t.Fatalf("Write: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
