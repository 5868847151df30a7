package memengine

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// Opening and one exchange: OnOpen on both sides, in a fixed order, and the
// addresses mirror each other.
func TestOpenAndExchange(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	client := &probe{}
	c := f.dial(client)
	f.expect("client open", "server open")
	s := f.server.conn
	if c.LocalAddr().String() != s.RemoteAddr().String() || c.RemoteAddr().String() != s.LocalAddr().String() {
		t.Fatalf("addresses do not mirror: client %v->%v, server %v->%v",
			c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
	}
	if c.RemoteAddr().String() != f.l.Addr().String() {
		t.Fatalf("client remote %v, listener %v", c.RemoteAddr(), f.l.Addr())
	}
	f.write(c, "ping")
	f.e.Settle()
	f.expect(`server data "ping" consumed 4`)
	f.write(s, "pong")
	f.e.Settle()
	f.expect(`client data "pong" consumed 4`)
}

// Unconsumed bytes stay at the front of the next OnData, with new bytes
// appended. A handler that consumed something is offered the rest again at
// once (one message per call works); one that consumed nothing is not asked
// again until new bytes arrive (engine.Handler.OnData).
func TestPartialConsumption(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe {
		// Take two-byte records; an odd byte waits for its partner.
		return &probe{onData: func(_ engine.Conn, in []byte) int { return min(2, len(in)&^1) }}
	})
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	f.write(c, "abcde")
	f.e.Settle()
	f.expect(`server data "abcde" consumed 2`, `server data "cde" consumed 2`, `server data "e" consumed 0`)
	f.write(c, "fg")
	f.e.Settle()
	f.expect(`server data "efg" consumed 2`, `server data "g" consumed 0`)
	if got := f.server.received(); got != "abcdef" {
		t.Fatalf("consumed %q, want %q", got, "abcdef")
	}
}

// A handler that never consumes a full read buffer is closed with
// ErrReadBufferFull; the peer reads EOF.
func TestReadBufferFull(t *testing.T) {
	f := newFixture(t, Options{PipeBufferSize: 1 << 20, Config: engine.Config{ReadBufferSize: engine.MinReadBufferSize}}, func() *probe {
		return &probe{onData: func(engine.Conn, []byte) int { return 0 }}
	})
	client := &probe{}
	c := f.dial(client)
	if err := c.Write(make([]byte, engine.MinReadBufferSize)); err != nil {
		t.Fatal(err)
	}
	f.e.Settle()
	if !f.server.closed || !errors.Is(f.server.closeErr, engine.ErrReadBufferFull) {
		t.Fatalf("server close error %v, want ErrReadBufferFull", f.server.closeErr)
	}
	if !client.eof || client.closed {
		t.Fatalf("client eof=%v closed=%v, want EOF only", client.eof, client.closed)
	}
}

// Backpressure in exact bytes: a paused reader lets the writer queue
// PipeBufferSize bytes in the pipe plus OutQueueLimit in its out-queue, then
// Write fails; resuming drains everything and fires OnDrained once.
func TestBackpressureExact(t *testing.T) {
	cases := []struct {
		name        string
		pipe        int
		limit, high int
		low         int
		chunk       int
		want        int // bytes accepted before ErrOutQueueFull
	}{
		{name: "tiny pipe", pipe: 16, limit: 64, high: 32, low: 8, chunk: 8, want: 80},
		{name: "odd sizes", pipe: 7, limit: 50, high: 40, low: 10, chunk: 3, want: 57},
		// 52 accepted leaves 45 queued: one more 4-byte chunk fits, the next not.
		{name: "chunk not dividing", pipe: 7, limit: 50, high: 40, low: 10, chunk: 4, want: 56},
		// The high-water mark equals the limit, so only the refusal owes OnDrained.
		{name: "pipe larger than queue", pipe: 100, limit: 10, high: 10, low: 5, chunk: 5, want: 110},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{
				PipeBufferSize: tc.pipe,
				Config:         engine.Config{OutQueueLimit: tc.limit, OutQueueHighWater: tc.high, OutQueueLowWater: tc.low},
			}, func() *probe {
				return &probe{onOpen: func(c engine.Conn) { c.PauseRead() }}
			})
			client := &probe{}
			c := f.dial(client)
			sent := 0
			chunk := bytes.Repeat([]byte{'x'}, tc.chunk)
			for {
				err := c.Write(chunk)
				if errors.Is(err, engine.ErrOutQueueFull) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				sent += tc.chunk
				f.e.Settle()
				if sent > tc.pipe+tc.limit {
					t.Fatalf("wrote %d bytes past pipe %d + limit %d", sent, tc.pipe, tc.limit)
				}
			}
			if sent != tc.want {
				t.Fatalf("accepted %d bytes, want %d", sent, tc.want)
			}
			if got, want := c.OutQueued(), tc.want-tc.pipe; got != want {
				t.Fatalf("OutQueued %d, want %d", got, want)
			}
			if f.server.received() != "" || client.drained != 0 {
				t.Fatalf("paused reader received %d bytes; drained %d", len(f.server.received()), client.drained)
			}
			f.server.conn.ResumeRead()
			f.e.Settle()
			if got := len(f.server.received()); got != sent {
				t.Fatalf("received %d bytes after resume, want %d", got, sent)
			}
			if client.drained != 1 || c.OutQueued() != 0 {
				t.Fatalf("OnDrained %d times, OutQueued %d; want 1 and 0", client.drained, c.OutQueued())
			}
		})
	}
}

// OnDrained fires once per crossing of the low-water mark after the
// high-water mark, not for every flush.
func TestDrainedOncePerCrossing(t *testing.T) {
	f := newFixture(t, Options{
		PipeBufferSize: 4,
		Config:         engine.Config{OutQueueLimit: 20, OutQueueHighWater: 10, OutQueueLowWater: 2},
	}, func() *probe {
		return &probe{onOpen: func(c engine.Conn) { c.PauseRead() }}
	})
	client := &probe{}
	c := f.dial(client)
	f.expect("client open", "server open")
	f.write(c, "0123") // fills the pipe
	f.e.Settle()
	f.write(c, "456789ABCD") // 10 queued: at, not above, high water
	f.e.Settle()
	if c.OutQueued() != 10 {
		t.Fatalf("queued %d, want 10", c.OutQueued())
	}
	f.server.conn.ResumeRead()
	f.e.Settle()
	if client.drained != 0 {
		t.Fatalf("OnDrained without crossing high water")
	}
	f.server.conn.PauseRead()
	f.write(c, "0123")
	f.e.Settle()
	f.write(c, "456789ABCDE") // 11 queued: above
	f.e.Settle()
	f.server.conn.ResumeRead()
	f.e.Settle()
	if client.drained != 1 {
		t.Fatalf("OnDrained %d times, want 1", client.drained)
	}
}

// A write refused on an empty queue still earns OnDrained, so a writer that
// waits for it never hangs.
func TestRefusedWriteOwesDrained(t *testing.T) {
	f := newFixture(t, Options{Config: engine.Config{OutQueueLimit: 8}}, nil)
	client := &probe{}
	c := f.dial(client)
	if err := c.Write(make([]byte, 9)); !errors.Is(err, engine.ErrOutQueueFull) {
		t.Fatalf("write 9 > limit 8: %v", err)
	}
	if err := c.Writev([][]byte{make([]byte, 5), make([]byte, 4)}); !errors.Is(err, engine.ErrOutQueueFull) {
		t.Fatalf("writev 9 > limit 8: %v (must be all or nothing)", err)
	}
	if c.OutQueued() != 0 {
		t.Fatalf("refused writes queued %d bytes", c.OutQueued())
	}
	f.e.Settle()
	if client.drained != 1 {
		t.Fatalf("OnDrained %d times, want 1", client.drained)
	}
}

// Half-close (spec/engine.md, shutr/shutw): each side's CloseWrite reaches
// the other as EOF after the data, and the other direction keeps working.
func TestHalfClose(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe {
		return &probe{onReadEOF: func(c engine.Conn) {
			_ = c.Write([]byte("resp"))
			_ = c.CloseWrite()
		}}
	})
	client := &probe{onReadEOF: func(c engine.Conn) { _ = c.Close() }}
	c := f.dial(client)
	f.expect("client open", "server open")
	f.write(c, "req")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.Write([]byte("late")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("write after CloseWrite: %v, want ErrClosed", err)
	}
	f.e.Settle()
	f.expect(`server data "req" consumed 3`,
		"server eof",
		`client data "resp" consumed 4`,
		"client eof",
		"client close <nil>",
	)
	// The client's full close reaches the server, which had its EOF already:
	// no second OnReadEOF, and nothing to reset since it sends nothing.
	_ = f.server.conn.Close()
	f.e.Settle()
	f.expect("server close <nil>")
}

// A full Close is seen by the peer as EOF after the bytes already in the
// pipe; the peer's next write draws a reset (the package's documented TCP
// model). Bytes still in the closer's out-queue are discarded.
func TestCloseThenPeerWriteResets(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	client := &probe{}
	c := f.dial(client)
	f.expect("client open", "server open")
	s := f.server.conn
	f.write(s, "flushed")
	f.e.Settle() // now in the client's pipe... and read
	f.write(s, "discarded")
	_ = s.Close()
	if err := s.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	f.e.Settle()
	f.expect(`client data "flushed" consumed 7`, "server close <nil>", "client eof")
	f.write(c, "anyone?")
	f.e.Settle()
	f.expect(`client close write tcp ` + c.LocalAddr().String() + `->` + c.RemoteAddr().String() + `: write: connection reset by peer`)
	var op *net.OpError
	if !errors.As(client.closeErr, &op) || op.Op != "write" || !errors.Is(client.closeErr, syscall.ECONNRESET) {
		t.Fatalf("client close error %#v, want *net.OpError write ECONNRESET", client.closeErr)
	}
	if err := s.Execute(func() {}); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Execute after OnClose: %v, want ErrClosed", err)
	}
}

// Bytes already in the pipe when the writer closes are still delivered.
func TestCloseKeepsBytesInPipe(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe {
		return &probe{onOpen: func(c engine.Conn) { c.PauseRead() }}
	})
	client := &probe{}
	c := f.dial(client)
	f.write(c, "in flight")
	f.e.Settle()
	_ = c.Close()
	f.e.Settle()
	f.expect("client open", "server open", "client close <nil>")
	f.server.conn.ResumeRead()
	f.e.Settle()
	f.expect(`server data "in flight" consumed 9`, "server eof")
}

// PauseRead holds back data and EOF; ResumeRead delivers the buffered bytes
// first, then EOF.
func TestPauseResume(t *testing.T) {
	f := newFixture(t, Options{}, func() *probe {
		return &probe{onData: func(c engine.Conn, in []byte) int {
			c.PauseRead() // one message at a time, like a throttled reader
			return 1
		}}
	})
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	f.write(c, "abc")
	_ = c.CloseWrite()
	f.e.Settle()
	f.expect(`server data "abc" consumed 1`)
	for _, want := range []string{`server data "bc" consumed 1`, `server data "c" consumed 1`} {
		f.server.conn.ResumeRead()
		f.server.conn.ResumeRead() // idempotent
		f.e.Settle()
		f.expect(want)
	}
	f.server.conn.ResumeRead()
	f.e.Settle()
	f.expect("server eof")
}
