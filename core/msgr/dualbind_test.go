package msgr_test

import (
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// bySource is an echo dispatcher that counts what it answers per sender
// and protocol.
type bySource struct {
	msgrtest.EchoDispatcher
	mu sync.Mutex
	n  map[string]int
}

func (d *bySource) FastDispatch(m *msgr.Message) {
	key := m.Src.String() + " v1"
	if m.Conn.Msgr2() {
		key = m.Src.String() + " v2"
	}
	d.mu.Lock()
	d.n[key]++
	d.mu.Unlock()
	d.EchoDispatcher.FastDispatch(m)
}

// TestDualBind: a messenger bound on msgr1 and msgr2 serves a v1 client
// (dialling "HOST:PORT" of the v1 listener) and a v2 client (dialling
// the v2 entry of its address vector) with one dispatcher.
func TestDualBind(t *testing.T) {
	eng := realEngine(t)
	srv, err := msgr.New(eng, msgr.Config{Name: "osd.0", RandomNonce: true, Policy: "stateless_server", RecycleFastDispatch: true})
	if err != nil {
		t.Fatal(err)
	}
	d := &bySource{n: map[string]int{}}
	_ = srv.Start(d)
	defer shutdownT(srv)
	if err := srv.Bind("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Bind("v2:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addrs, listen := srv.Addrs(), srv.ListenAddrs()
	if len(addrs) != 2 || addrs[0].Type != wire.AddrTypeMsgr2 || addrs[1].Type != wire.AddrTypeLegacy || len(listen) != 2 ||
		listen[0].String() != addrs[1].AddrPort().String() || srv.ListenAddr() != listen[0] {
		t.Fatalf("Addrs %v, ListenAddrs %v", addrs, listen)
	}

	const n = 50
	for i, target := range []string{listen[0].String(), addrs[0].TypedString()} {
		cli, err := msgr.New(eng, msgr.Config{Name: "client." + string(rune('1'+i)), RandomNonce: true, Policy: "lossy_client"})
		if err != nil {
			t.Fatal(err)
		}
		q := &queued{msgs: make(chan *msgr.Message, n), events: make(chan string, 10)}
		_ = cli.Start(q)
		defer shutdownT(cli)
		conn, err := cli.ConnectTo(wire.EntityOSD, target)
		if err != nil {
			t.Fatal(err)
		}
		for tid := 1; tid <= n; tid++ {
			if err := conn.SendMessage(&msgr.Message{Type: msgrtest.Echo, Tid: uint64(tid), Data: make([]byte, tid)}); err != nil {
				t.Fatal(err)
			}
		}
		timeout := time.After(20 * time.Second) // a bound on a hung run, not a timing assertion
		for tid := 1; tid <= n; tid++ {
			select {
			case m := <-q.msgs:
				if m.Type != msgrtest.EchoReply || m.Tid != uint64(tid) || len(m.Data) != tid {
					t.Fatalf("%s: reply %d: type %#x tid %d", target, tid, m.Type, m.Tid)
				}
			case <-timeout:
				t.Fatalf("%s: %d replies of %d", target, tid-1, n)
			}
		}
		if conn.Msgr2() != (i == 1) {
			t.Fatalf("%s: msgr2 %v", target, conn.Msgr2())
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n["client.1 v1"] != n || d.n["client.2 v2"] != n || len(d.n) != 2 {
		t.Fatalf("the dispatcher answered %v, want %d from client.1 over v1 and from client.2 over v2", d.n, n)
	}
}
