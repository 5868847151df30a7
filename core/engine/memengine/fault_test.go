package memengine

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// FaultReset delivers exactly After bytes, then both sides see ECONNRESET:
// the writer on write, the reader on read after the bytes before the break.
func TestFaultReset(t *testing.T) {
	hook := func(c engine.Conn, dialer bool) FaultPlan {
		if dialer {
			return FaultPlan{After: 10, Action: FaultReset}
		}
		return FaultPlan{}
	}
	f := newFixture(t, Options{Fault: hook, PipeBufferSize: 4}, nil)
	client := &probe{}
	c := f.dial(client)
	f.write(c, "0123456789abcdef")
	f.e.Settle()
	if got := f.server.received(); got != "0123456789" {
		t.Fatalf("server received %q, want the first 10 bytes", got)
	}
	for name, p := range map[string]*probe{"client": client, "server": f.server} {
		var op *net.OpError
		if !errors.As(p.closeErr, &op) || !errors.Is(p.closeErr, syscall.ECONNRESET) {
			t.Fatalf("%s close error %v, want a reset", name, p.closeErr)
		}
		if want := map[string]string{"client": "write", "server": "read"}[name]; op.Op != want {
			t.Fatalf("%s reset on %q, want %q", name, op.Op, want)
		}
	}
}

// FaultBlackhole swallows every byte after After; the connection stays up.
func TestFaultBlackhole(t *testing.T) {
	hook := func(c engine.Conn, dialer bool) FaultPlan {
		if !dialer {
			return FaultPlan{After: 3, Action: FaultBlackhole}
		}
		return FaultPlan{}
	}
	f := newFixture(t, Options{Fault: hook}, nil)
	client := &probe{}
	c := f.dial(client)
	f.write(f.server.conn, "abcdef")
	f.e.Settle()
	f.write(f.server.conn, "ghi")
	f.e.Settle()
	if got := client.received(); got != "abc" {
		t.Fatalf("client received %q, want %q", got, "abc")
	}
	if f.server.conn.OutQueued() != 0 || client.closed || f.server.closed {
		t.Fatal("blackhole should look like a healthy connection to the writer")
	}
	f.write(c, "still works the other way")
	f.e.Settle()
	if !strings.HasSuffix(f.server.received(), "other way") {
		t.Fatalf("server received %q", f.server.received())
	}
}

// InjectReset breaks a connection on demand.
func TestInjectReset(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe {
		return &probe{onOpen: func(c engine.Conn) { c.PauseRead() }}
	})
	client := &probe{}
	c := f.dial(client)
	f.write(c, "lost")
	f.e.Settle()
	f.e.InjectReset(c)
	f.e.Settle()
	f.expect("client open", "server open", "client close read tcp "+c.LocalAddr().String()+"->"+c.RemoteAddr().String()+": read: connection reset by peer",
		"server close read tcp "+c.RemoteAddr().String()+"->"+c.LocalAddr().String()+": read: connection reset by peer")
	if f.server.received() != "" {
		t.Fatal("a paused reader got bytes through a reset")
	}
}

// Abort (engine.Aborter) closes the local side as Close does (OnClose
// nil) while the peer sees a reset, not an EOF.
func TestAbort(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe { return &probe{} })
	client := &probe{}
	c := f.dial(client)
	f.e.Settle()
	ab, ok := c.(engine.Aborter)
	if !ok {
		t.Fatal("memengine conn does not implement engine.Aborter")
	}
	if err := ab.Abort(); err != nil {
		t.Fatal(err)
	}
	f.e.Settle()
	f.expect("client open", "server open", "client close <nil>",
		"server close read tcp "+c.RemoteAddr().String()+"->"+c.LocalAddr().String()+": read: connection reset by peer")
	if err := ab.Abort(); err != nil {
		t.Fatal("second Abort:", err)
	}
}
