package protocol

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// writeCounter is a loopConn that counts the engine's write calls and
// reports a chosen out-queue length.
type writeCounter struct {
	loopConn
	calls  int
	queued int
}

func (c *writeCounter) Write(b []byte) error { c.calls++; return c.loopConn.Writev([][]byte{b}) }
func (c *writeCounter) Writev(bufs [][]byte) error {
	c.calls++
	return c.loopConn.Writev(bufs)
}
func (c *writeCounter) OutQueued() int { return c.queued }

// A message with sections sent by reference (here a 4 KiB front) goes to
// the engine in one call, header and footer included: one system call per
// message on the engines that write at once. (It took two, Write for the
// batch buffer and Writev for the rest, which cost the goroutine engine's
// msgr-client about 18 % more CPU per 4 KiB round trip.) The batch buffer
// lent with that Writev goes back to the pool only once the out-queue is
// empty.
func TestWriterOneCallPerBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		queued   int // the engine's out-queue after the write
		wantLent int
	}{
		{"written at once", 0, 0},
		{"queued by the engine", 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, memengine.Options{})
			p, err := PolicyByName("stateful_server", 0)
			if err != nil {
				t.Fatal(err)
			}
			h := &recorder{echo: true}
			cfg := Config{Name: wire.EntityName{Type: wire.EntityOSD}, Nonce: 1, DefaultPolicy: p, CRC: wire.CRCAll,
				Clock: w.clk, Logf: t.Logf}
			ep := NewEndpoint(w.eng, cfg, h)
			t.Cleanup(ep.Stop)
			c := &writeCounter{}
			k := acceptOn(t, ep, c, 10, 0, 0)
			c.take(len(c.out))
			c.calls, c.queued = 0, tc.queued

			front := make([]byte, 4096)
			in := wire.AppendMessage(nil, wire.Header{Seq: 1, Tid: 1, Type: 0x7E01, Priority: 127,
				Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}, front, nil, nil, true, wire.CRCAll)
			k.OnData(c, in)
			if h.count() != 1 {
				t.Fatalf("delivered %d messages, want 1", h.count())
			}
			if c.calls != 1 {
				t.Errorf("the echo took %d engine write calls, want 1", c.calls)
			}
			if n := len(c.out); n < 1+wire.HeaderLen+len(front)+wire.FooterLen {
				t.Errorf("wrote %d bytes, less than one 4 KiB message", n)
			}
			s := k.(*sock)
			if len(s.lent) != tc.wantLent {
				t.Errorf("%d batch buffers lent, want %d", len(s.lent), tc.wantLent)
			}
			// The next fill finds the out-queue empty and takes it back.
			c.queued = 0
			s.reclaim()
			if len(s.lent) != 0 {
				t.Errorf("%d batch buffers still lent with an empty out-queue", len(s.lent))
			}
		})
	}
}
