package netpollengine

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// flowServer counts what it gets and reports OnReadEOF; while gate is open
// (not nil) its first OnData blocks on it.
type flowServer struct {
	engine.BaseHandler
	conns chan *conn
	gate  chan struct{}
	got   atomic.Int64
	data  chan struct{} // one token per OnData
	eof   chan struct{}
}

func newFlowServer(gate chan struct{}) *flowServer {
	return &flowServer{conns: make(chan *conn, 1), gate: gate, data: make(chan struct{}, 1024), eof: make(chan struct{})}
}

func (h *flowServer) OnOpen(c engine.Conn) { h.conns <- c.(*conn) }

func (h *flowServer) OnData(_ engine.Conn, in []byte) int {
	if h.gate != nil {
		<-h.gate
		h.gate = nil
	}
	h.got.Add(int64(len(in)))
	select {
	case h.data <- struct{}{}:
	default:
	}
	return len(in)
}

func (h *flowServer) OnReadEOF(engine.Conn) { close(h.eof) }

// serve starts an engine with h and returns the accepted conn and its peer.
func serve(t *testing.T, h *flowServer) (*conn, *net.TCPConn) {
	t.Helper()
	_, cl := listenAndDial(t, h)
	return <-h.conns, cl.(*net.TCPConn)
}

func onLoop(t *testing.T, c *conn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Execute(func() { fn(); close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(boundTimeout):
		t.Fatal("Execute never ran")
	}
}

// TestResumeRearmsWithoutTask: the poller takes the fd out after a read
// that finds reads paused, but no processing task may be left to put it
// back (the handler had consumed everything, so the task ended before the
// pause). ResumeRead must register the fd itself; else the peer's FIN
// (and every later byte) is never read. (Kit case PauseHoldsEOF hit this
// when the pause came just after the task ended.)
func TestResumeRearmsWithoutTask(t *testing.T) {
	h := newFlowServer(nil)
	sc, cl := serve(t, h)
	if _, err := cl.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.data:
	case <-time.After(boundTimeout):
		t.Fatal("no OnData")
	}
	onLoop(t, sc, sc.PauseRead)
	sc.Mu.Lock()
	a := sc.att
	sc.Mu.Unlock()
	a.ri.pollerStop() // what the poller does after its next read now
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	onLoop(t, sc, sc.ResumeRead)
	select {
	case <-h.eof:
	case <-time.After(boundTimeout):
		t.Fatal("no OnReadEOF after ResumeRead: the fd stayed out of epoll")
	}
}

// TestResumeKeepsBound: the processing task decides to register the fd
// again from a buffer length it read before the poller's last read; the
// registration must look at the buffer again, or the poller reads one more
// time past the bound (the 384 KiB = readAheadLimit + 2 reads that
// TestReadAheadBounded once saw).
func TestResumeKeepsBound(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	h := newFlowServer(gate)
	sc, cl := serve(t, h)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := cl.Write(chunk); err != nil {
				return
			}
		}
	}()
	limit := sc.eng.readAheadLimit
	buffered := netpollBuffered(sc)
	for deadline := time.Now().Add(boundTimeout); buffered <= limit && time.Now().Before(deadline); buffered = netpollBuffered(sc) {
		time.Sleep(time.Millisecond) // sampling, not synchronising
	}
	if buffered <= limit {
		t.Fatalf("netpoll buffered %d bytes, never past the limit %d", buffered, limit)
	}
	sc.Mu.Lock()
	a := sc.att
	sc.Mu.Unlock()
	a.ri.resume()                      // a stale decision: the buffer is past the limit
	time.Sleep(200 * time.Millisecond) // proving a negative: bounded wait
	if now := netpollBuffered(sc); now != buffered {
		t.Fatalf("netpoll buffered %d bytes, then %d after a resume past the limit: the poller read again", buffered, now)
	}
}
