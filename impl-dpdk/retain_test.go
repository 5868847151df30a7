package dpdkengine

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/netmodels/netmodels/core/engine"
)

// retainClient writes one message, waits for its echo and closes first,
// so its endpoint goes to TIME_WAIT (60 s in gVisor) after the server's
// FIN. It keeps no reference to the conn.
type retainClient struct {
	engine.BaseHandler
	got    int
	closed chan<- error
}

const retainMsg = 1500 // more than one segment

func (k *retainClient) OnOpen(c engine.Conn) {
	if err := c.Write(make([]byte, retainMsg)); err != nil {
		c.Close()
	}
}

func (k *retainClient) OnData(c engine.Conn, in []byte) int {
	if k.got += len(in); k.got >= retainMsg {
		c.Close()
	}
	return len(in)
}

func (k *retainClient) OnClose(_ engine.Conn, err error) {
	if err == nil && k.got < retainMsg {
		err = fmt.Errorf("closed after %d of %d echoed bytes", k.got, retainMsg)
	}
	k.closed <- err
}

// retainServer echoes and closes on the client's FIN.
type retainServer struct {
	engine.BaseHandler
	closed chan<- error
}

func (s *retainServer) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(in); err != nil {
		c.Close()
	}
	return len(in)
}

func (s *retainServer) OnReadEOF(c engine.Conn)          { c.Close() }
func (s *retainServer) OnClose(_ engine.Conn, err error) { s.closed <- err }

// TestClosedConnsNotRetained: a closed conn must be garbage once its
// callbacks are done, even while gVisor keeps its endpoint (TIME_WAIT, 60
// s). gVisor's endpoint keeps the last Payloader given to Write (its
// limRdr) for its whole life; when that was a field of the conn, every
// closed conn stayed alive with its 64 KiB read buffer, out-queue chunks
// and handler for a minute: bin/dpdk's RSS rose ~50 MiB under a soak's
// reconnects (issue 21's soak). Runs without DPDK, over the in-memory port.
func TestClosedConnsNotRetained(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	var conns []weak.Pointer[conn]
	var eps []tcpip.Endpoint // kept alive on purpose: what gVisor keeps
	debugNewConn = func(c *conn) {
		mu.Lock()
		conns = append(conns, weak.Make(c))
		eps = append(eps, c.ep)
		mu.Unlock()
	}
	nsA, nsB, _, _, _, _ := pipeStacks(t, 0)
	srv := NewOn(nsA, engine.Config{Workers: 1})
	cli := NewOn(nsB, engine.Config{Workers: 1})
	t.Cleanup(func() {
		_ = cli.Shutdown(t.Context())
		_ = srv.Shutdown(t.Context())
		debugNewConn = nil // the loops have stopped: no newConn reads it now
	})
	closed := make(chan error, 2*n)
	ln, err := srv.Listen("198.51.100.1:7001", func(engine.Conn) engine.Handler { return &retainServer{closed: closed} })
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := cli.Dial(ln.Addr().String(), &retainClient{closed: closed}, engine.DialOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 * n {
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("connections not all closed after 20 s")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 2*n {
		t.Fatalf("%d conns made, want %d", len(conns), 2*n)
	}
	// OnClose runs at our Close, before the FINs are through: the client
	// endpoints reach TIME_WAIT on the server's FIN, a moment later. Poll
	// their state (bounded) until all n are there.
	timeWait := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		timeWait = 0
		for _, ep := range eps {
			if tcp.EndpointState(ep.State()) == tcp.StateTimeWait {
				timeWait++
			}
		}
		if timeWait >= n || time.Now().After(deadline) {
			break
		}
	}
	if timeWait == 0 {
		t.Fatal("no endpoint in TIME_WAIT after 10 s: the test does not exercise what gVisor keeps")
	}
	runtime.GC()
	live := 0
	for _, p := range conns {
		if p.Value() != nil {
			live++
		}
	}
	if live > 0 {
		t.Fatalf("%d of %d closed conns still reachable after GC (%d endpoints in TIME_WAIT)", live, len(conns), timeWait)
	}
	t.Logf("%d conns closed and collected; %d of their endpoints in TIME_WAIT", len(conns), timeWait)
}
