package msgr_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// markDownServer answers each message from FastDispatch (on the loop) and
// marks the session down from FastDispatch when the last one comes.
type markDownServer struct {
	msgrtest.Base
	srv  *msgr.Messenger
	last uint64

	mu     sync.Mutex
	tids   []uint64
	lookup []int // sessions seen from inside FastDispatch
}

func (s *markDownServer) CanFastDispatch(*msgr.Message) bool { return true }
func (s *markDownServer) FastDispatch(m *msgr.Message) {
	n := len(s.srv.Endpoint().Sessions())
	s.mu.Lock()
	s.tids = append(s.tids, m.Tid)
	s.lookup = append(s.lookup, n)
	s.mu.Unlock()
	if m.Tid == s.last {
		m.Conn.MarkDown()
		return
	}
	_ = m.Conn.SendMessage(&msgr.Message{Type: msgrtest.EchoReply, Tid: m.Tid})
}

// chattyClient looks its connection up again and sends from Dispatch: the
// next message once every reply has come.
type chattyClient struct {
	msgrtest.Base
	cli   *msgr.Messenger
	addr  string
	want  uint64
	last  uint64
	reset chan struct{}

	mu      sync.Mutex
	got     []uint64
	sameErr []string
}

func (c *chattyClient) Dispatch(m *msgr.Message) {
	conn, err := c.cli.ConnectTo(wire.EntityOSD, c.addr)
	c.mu.Lock()
	c.got = append(c.got, m.Tid)
	if err != nil || conn != m.Conn {
		c.sameErr = append(c.sameErr, "ConnectTo from Dispatch returned another connection")
	}
	c.mu.Unlock()
	if m.Tid == c.want {
		if err := m.Conn.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: c.last}); err != nil {
			c.mu.Lock()
			c.sameErr = append(c.sameErr, "SendMessage from Dispatch: "+err.Error())
			c.mu.Unlock()
		}
	}
}

func (c *chattyClient) HandleReset(*msgr.Connection) { close(c.reset) }

// Dispatcher methods may call back into the messenger: the server's
// FastDispatch sends, looks sessions up and marks its session down; the
// client's Dispatch looks its connection up and sends. Nothing deadlocks,
// every message arrives once and in order, and MarkDown ends the session on
// both sides (the lossy client gets HandleReset).
func TestDispatcherCallsBackIntoMessenger(t *testing.T) {
	const n = 50
	eng := realEngine(t)
	srv, err := msgr.New(eng, msgr.Config{Name: "osd.0", Policy: "stateless_server"})
	if err != nil {
		t.Fatal(err)
	}
	sd := &markDownServer{srv: srv, last: n + 1}
	if err := srv.Start(sd); err != nil {
		t.Fatal(err)
	}
	if err := srv.Bind("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	cli, err := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true, Policy: "lossy_client"})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.ListenAddr().String()
	cd := &chattyClient{cli: cli, addr: addr, want: n, last: n + 1, reset: make(chan struct{})}
	if err := cli.Start(cd); err != nil {
		t.Fatal(err)
	}
	defer cli.Shutdown(context.Background())
	conn, err := cli.ConnectTo(wire.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	for tid := uint64(1); tid <= n; tid++ {
		if err := conn.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: tid}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-cd.reset:
	case <-time.After(20 * time.Second): // a deadlock detector; the reset comes at once
		t.Fatal("no HandleReset after the server's MarkDown")
	}

	sd.mu.Lock()
	defer sd.mu.Unlock()
	cd.mu.Lock()
	defer cd.mu.Unlock()
	checkSeq := func(who string, got []uint64, n int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s got %d messages, want %d: %v", who, len(got), n, got)
		}
		for i, tid := range got {
			if tid != uint64(i+1) {
				t.Fatalf("%s: message %d has tid %d: %v", who, i, tid, got)
			}
		}
	}
	checkSeq("server", sd.tids, n+1)
	checkSeq("client", cd.got, n)
	for i, k := range sd.lookup {
		if k != 1 {
			t.Fatalf("FastDispatch %d saw %d sessions, want 1", i+1, k)
		}
	}
	if len(cd.sameErr) > 0 {
		t.Fatal(cd.sameErr[0])
	}
	if k := len(srv.Endpoint().Sessions()); k != 0 {
		t.Errorf("server has %d sessions after MarkDown from FastDispatch", k)
	}
}
