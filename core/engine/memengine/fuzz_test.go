package memengine

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// FuzzPipe runs a script of writes, pauses, resumes and settles over one
// connection with small buffers, and checks the pipe's invariants: bytes
// arrive complete and in order, no queue passes its limit, refused writes
// queue nothing, and after a final resume every accepted byte has reached
// the reader.
func FuzzPipe(f *testing.F) {
	f.Add([]byte{7, 0x10, 0x21, 0x32, 0x03, 0xff, 0x41, 0x02, 0x01, 0xfc, 0x03})
	f.Add(bytes.Repeat([]byte{0xfc}, 40))
	f.Add([]byte{1, 1, 0xfd, 0xfd, 0xfd, 2, 3, 0})
	f.Fuzz(runPipeScript)
}

func runPipeScript(t *testing.T, script []byte) {
	if len(script) < 2 || len(script) > 512 {
		return
	}
	const limit = 64
	clk := NewFakeClock(time.Time{})
	e := New(Options{
		Clock:          clk,
		PipeBufferSize: 1 + int(script[0]%40),
		Config: engine.Config{
			ReadBufferSize: engine.MinReadBufferSize,
			OutQueueLimit:  limit, OutQueueHighWater: 32, OutQueueLowWater: 8,
		},
	})
	defer func() { _ = e.Shutdown(t.Context()) }()
	step := int(script[1]%7) + 1 // bytes the reader takes per OnData
	var got, pending []byte
	reader := &lean{onData: func(_ engine.Conn, in []byte) int {
		if !bytes.HasPrefix(in, pending) {
			// Not Fatal: this runs on the loop goroutine.
			t.Errorf("OnData lost unconsumed bytes: in %q, pending %q", in, pending)
		}
		n := min(step, len(in))
		got = append(got, in[:n]...)
		pending = append(pending[:0], in[n:]...)
		return n
	}}
	l, _ := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return reader })
	writer := &lean{}
	c, _ := e.Dial(l.Addr().String(), writer, engine.DialOptions{})
	e.Settle()
	var sent []byte
	next := byte(0)
	for _, op := range script[2:] {
		switch op & 3 {
		case 0, 1:
			n := int(op>>2) + 1
			chunk := make([]byte, n)
			for i := range chunk {
				chunk[i] = next + byte(i)
			}
			before := c.OutQueued()
			err := c.Write(chunk)
			switch {
			case err == nil:
				sent = append(sent, chunk...)
				next += byte(n)
			case errors.Is(err, engine.ErrOutQueueFull):
				if before+n <= limit || c.OutQueued() != before {
					t.Fatalf("refused %d bytes with %d queued (limit %d), queue now %d", n, before, limit, c.OutQueued())
				}
			default:
				t.Fatal(err)
			}
		case 2:
			reader.conn.PauseRead()
		case 3:
			if op&4 != 0 {
				reader.conn.ResumeRead()
			}
			e.Settle()
		}
		if q := c.OutQueued(); q > limit {
			t.Fatalf("out-queue %d past limit %d", q, limit)
		}
		if !bytes.HasPrefix(sent, got) {
			t.Fatalf("reader consumed %q, not a prefix of what was sent", got)
		}
	}
	reader.conn.ResumeRead()
	e.Settle()
	if all := append(append([]byte{}, got...), pending...); !bytes.Equal(all, sent) {
		t.Fatalf("after resume: consumed %d + pending %d bytes, sent %d", len(got), len(pending), len(sent))
	}
	if c.OutQueued() != 0 || writer.closed || reader.closed {
		t.Fatalf("queue %d, writer closed %v, reader closed %v", c.OutQueued(), writer.closed, reader.closed)
	}
}

// FuzzParseAddr: the address parser never panics, and whatever it accepts
// prints back to an address it parses to the same value.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:0", ":80", "[::1]:6789", "localhost:1", "0.0.0.0:65535", "[fe80::1%eth0]:1", "1.2.3.4:http", "x"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, listen bool) {
		ap, err := parseAddr(s, listen)
		if err != nil {
			return
		}
		again, err := parseAddr(ap.String(), listen)
		if err != nil || again != ap {
			t.Fatalf("%q -> %v -> %v, %v", s, ap, again, err)
		}
	})
}

// lean is a Handler that logs nothing: the fuzz target calls OnData tens of
// thousands of times per input, and a probe's event log (every delivery
// quoted in full) would make that quadratic.
type lean struct {
	engine.BaseHandler
	onData func(c engine.Conn, in []byte) int
	conn   engine.Conn
	closed bool
}

func (h *lean) OnOpen(c engine.Conn) { h.conn = c }
func (h *lean) OnData(c engine.Conn, in []byte) int {
	if h.onData != nil {
		return h.onData(c, in)
	}
	return len(in)
}
func (h *lean) OnReadEOF(engine.Conn)      {}
func (h *lean) OnClose(engine.Conn, error) { h.closed = true }
