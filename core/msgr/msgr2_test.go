package msgr_test

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// queued collects messages through the dispatch queue (Dispatch, not
// FastDispatch) and connection events.
type queued struct {
	msgrtest.Base
	msgs   chan *msgr.Message
	events chan string
}

func (q *queued) Dispatch(m *msgr.Message)           { q.msgs <- m }
func (q *queued) HandleConnect(*msgr.Connection)     { q.events <- "connect" }
func (q *queued) HandleReset(*msgr.Connection)       { q.events <- "reset" }
func (q *queued) HandleRefused(*msgr.Connection)     { q.events <- "refused" }
func (q *queued) HandleRemoteReset(*msgr.Connection) { q.events <- "remote_reset" }

// TestMsgr2Echo: the messenger API over msgr2 ("v2:" addresses): an echo
// server answering on the loop (FastDispatch, recycled messages), a
// client receiving through the dispatch queue, a keepalive round trip,
// and a lossless client adopting the stateless server's lossy session.
func TestMsgr2Echo(t *testing.T) {
	eng := realEngine(t)
	srv, err := msgr.New(eng, msgr.Config{Name: "osd.0", RandomNonce: true, Policy: "stateless_server", RecycleFastDispatch: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Start(msgrtest.EchoDispatcher{})
	if err := srv.Bind("v2:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer shutdownT(srv)
	addr := srv.Addr().TypedString() // v2:127.0.0.1:PORT/NONCE

	cli, err := msgr.New(eng, msgr.Config{Name: "client.1", RandomNonce: true, Policy: "lossy_client"})
	if err != nil {
		t.Fatal(err)
	}
	q := &queued{msgs: make(chan *msgr.Message, 100), events: make(chan string, 10)}
	_ = cli.Start(q)
	defer shutdownT(cli)
	conn, err := cli.ConnectTo(wire.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 1; i <= n; i++ {
		if i == n {
			// The server answers a KEEPALIVE2 at once, so its ack comes
			// before the reply to a later message.
			conn.SendKeepalive()
		}
		if err := conn.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: uint64(i), Version: 3, Front: []byte{byte(i)}, Data: make([]byte, i*100)}); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(20 * time.Second) // a bound on a hung run, not a timing assertion
	for i := 1; i <= n; i++ {
		select {
		case m := <-q.msgs:
			if m.Type != msgrtest.EchoReply || m.Tid != uint64(i) || m.Version != 3 || len(m.Data) != i*100 ||
				len(m.Front) != 1 || m.Front[0] != byte(i) || m.Src.Type != wire.EntityOSD {
				t.Fatalf("reply %d: type %#x tid %d v%d data %d", i, m.Type, m.Tid, m.Version, len(m.Data))
			}
		case <-timeout:
			t.Fatalf("%d replies of %d", i-1, n)
		}
	}
	if ev := <-q.events; ev != "connect" || !conn.Msgr2() || !conn.Lossy() {
		t.Fatalf("event %s", ev)
	}
	if conn.LastKeepaliveAck().IsZero() {
		t.Fatal("no KEEPALIVE2_ACK before the last reply")
	}
	// A lossless client: the server's choice (lossy) is adopted, as
	// Ceph's client does.
	lossless, err := msgr.New(eng, msgr.Config{Name: "client.2", RandomNonce: true, Policy: "lossless_client"})
	if err != nil {
		t.Fatal(err)
	}
	q2 := &queued{msgs: make(chan *msgr.Message, 1), events: make(chan string, 10)}
	_ = lossless.Start(q2)
	defer shutdownT(lossless)
	c2, err := lossless.ConnectTo(wire.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c2.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: 1})
	select {
	case <-q2.msgs:
	case <-time.After(20 * time.Second):
		t.Fatal("no reply on the lossless client's session")
	}
	if !c2.Lossy() || !c2.Msgr2() {
		t.Fatalf("lossless client: lossy %v v2 %v, want the server's lossy session", c2.Lossy(), c2.Msgr2())
	}
}

func shutdownT(m *msgr.Messenger) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = m.Shutdown(ctx)
}
