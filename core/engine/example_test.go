package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
)

// maxLine bounds one line. A handler that consumes nothing from a full read
// buffer is closed by the engine (engine.ErrReadBufferFull), so a line
// protocol must bound its lines below Config.ReadBufferSize.
const maxLine = 1024

// idleAfter ends a connection that sends no complete line for this long.
const idleAfter = 5 * time.Second

// lineEcho is a small protocol on the engine contract: it answers every
// complete line with "echo: <line>", says "bye" and half-closes on "quit",
// and half-closes a connection idle for idleAfter. All its state is
// touched only from its connection's loop, so it needs no lock.
type lineEcho struct {
	idle engine.Timer
	done bool
}

func (h *lineEcho) OnOpen(c engine.Conn) { h.arm(c) }

// arm (re)starts the idle timer; it fires on the connection's loop.
func (h *lineEcho) arm(c engine.Conn) {
	if h.idle != nil {
		h.idle.Stop()
	}
	h.idle = c.AfterFunc(idleAfter, func() {
		if !h.done {
			h.finish(c, "idle\n")
		}
	})
}

// finish writes a last line and half-closes: CloseWrite sends FIN after
// every byte already queued, and the peer's EOF then ends the connection.
func (h *lineEcho) finish(c engine.Conn, last string) {
	h.done = true
	_ = c.Write([]byte(last))
	_ = c.CloseWrite()
}

// OnData consumes complete lines only: a partial line is left unconsumed,
// and the engine offers it again, with what follows, on the next OnData.
func (h *lineEcho) OnData(c engine.Conn, in []byte) int {
	if h.done {
		return len(in) // after quit: discard
	}
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			break
		}
		line := in[used : used+i]
		if string(line) == "quit" {
			h.finish(c, "bye\n")
			return len(in)
		}
		reply := append([]byte("echo: "), line...)
		if err := c.Write(append(reply, '\n')); err != nil {
			// Out-queue full (engine.ErrOutQueueFull): keep this line
			// unconsumed; a real server would PauseRead until OnDrained.
			return used
		}
		used += i + 1
	}
	if len(in)-used > maxLine {
		h.finish(c, "line too long\n")
		return len(in)
	}
	if used > 0 {
		h.arm(c)
	}
	return used
}

func (h *lineEcho) OnReadEOF(c engine.Conn) { _ = c.Close() }
func (h *lineEcho) OnDrained(c engine.Conn) {}
func (h *lineEcho) OnClose(c engine.Conn, err error) {
	if h.idle != nil {
		h.idle.Stop()
	}
}

// printer is a client that prints what it reads, stamped with the fake time.
type printer struct {
	engine.BaseHandler
	name string
	clk  *memengine.FakeClock
}

func (p printer) OnData(c engine.Conn, in []byte) int {
	fmt.Printf("%v %s read %q\n", p.clk.Now().Sub(memengine.FakeEpoch), p.name, in)
	return len(in)
}

func (p printer) OnReadEOF(c engine.Conn) {
	fmt.Printf("%v %s read EOF\n", p.clk.Now().Sub(memengine.FakeEpoch), p.name)
	_ = c.Close()
}

// A custom protocol written once on the engine contract runs on every
// engine. A program passes the engine it chose, for example
// goroutine.New(engine.Config{Workers: 4}) from impl-goroutine, to the code
// that calls Listen and Dial. Here the in-memory engine with a fake clock
// runs it: nothing happens between two Settle calls, and time moves only
// on Advance, so the output never varies.
func Example() {
	clk := memengine.NewFakeClock(time.Time{})
	eng := memengine.New(memengine.Options{Clock: clk})
	defer eng.Shutdown(context.Background())

	l, err := eng.Listen("127.0.0.1:7000", func(engine.Conn) engine.Handler { return &lineEcho{} })
	if err != nil {
		panic(err)
	}
	a, _ := eng.Dial(l.Addr().String(), printer{name: "a", clk: clk}, engine.DialOptions{})
	b, _ := eng.Dial(l.Addr().String(), printer{name: "b", clk: clk}, engine.DialOptions{})
	_ = b // b stays silent

	// One line in three writes: the server answers once the line is whole.
	for _, part := range []string{"hel", "lo\nwor", "ld\n"} {
		_ = a.Write([]byte(part))
		eng.Settle()
	}
	clk.Advance(time.Second)
	_ = a.Write([]byte("quit\n"))
	eng.Settle()

	clk.Advance(idleAfter) // b's idle timer fires
	// Output:
	// 0s a read "echo: hello\n"
	// 0s a read "echo: world\n"
	// 1s a read "bye\n"
	// 1s a read EOF
	// 5s b read "idle\n"
	// 5s b read EOF
}
