package memengine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
)

// echo answers every byte and closes one second after the peer's EOF.
type echo struct{ engine.BaseHandler }

func (echo) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(in); err != nil {
		return 0 // out-queue full: the bytes come back with the next OnData
	}
	return len(in)
}

func (echo) OnReadEOF(c engine.Conn) {
	c.AfterFunc(time.Second, func() { _ = c.Close() })
}

// client prints what happens to it.
type client struct{ clk *memengine.FakeClock }

func (h client) at() time.Duration { return h.clk.Now().Sub(memengine.FakeEpoch) }

func (h client) OnOpen(c engine.Conn) { fmt.Println(h.at(), "open") }
func (h client) OnData(c engine.Conn, in []byte) int {
	fmt.Printf("%v data %q\n", h.at(), in)
	return len(in)
}
func (h client) OnReadEOF(c engine.Conn)          { fmt.Println(h.at(), "eof") }
func (h client) OnDrained(c engine.Conn)          {}
func (h client) OnClose(c engine.Conn, err error) { fmt.Println(h.at(), "close", err) }

// A protocol test is a script: act from the test goroutine, Settle to let
// every consequence happen, Advance to move time. No sleeps, no flakes: the
// output is the same on every run.
func Example() {
	clk := memengine.NewFakeClock(time.Time{})
	e := memengine.New(memengine.Options{Clock: clk, PipeBufferSize: 4})
	defer e.Shutdown(context.Background())

	l, _ := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return echo{} })
	c, _ := e.Dial(l.Addr().String(), client{clk}, engine.DialOptions{})
	_ = c.Write([]byte("hello"))
	e.Settle() // connected; "hello" crossed a 4-byte pipe both ways

	_ = c.CloseWrite()
	e.Settle()                          // the server read EOF and armed its one-second timer
	clk.Advance(999 * time.Millisecond) // nothing yet
	clk.Advance(time.Millisecond)       // the timer fires, the server closes, we read EOF
	_ = c.Close()
	e.Settle()
	// Output:
	// 0s open
	// 0s data "hell"
	// 0s data "o"
	// 1s eof
	// 1s close <nil>
}
