package enginetest

import (
	"bytes"

	"github.com/netmodels/netmodels/core/engine"
)

// Spec: "Per-component limits". 1,000 connections, all open at the same
// time, then each echoes 1 KiB.
func testThousandConns(k *kit) {
	t := k.t
	const conns = 1000
	e := k.engine(engine.Config{ReadBufferSize: engine.MinReadBufferSize})
	addr := k.echoServer(e, nil)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64)
	opened := newCounter(conns)
	closed := newCounter(conns)
	all := make([]engine.Conn, 0, conns)
	for i := 0; i < conns; i++ {
		var got []byte
		ch := newHandler(t, "client", nil)
		ch.open = func(c engine.Conn) { opened.add(1) }
		ch.data = func(c engine.Conn, in []byte) int {
			got = append(got, in...)
			if len(got) == len(msg) {
				if !bytes.Equal(got, msg) {
					t.Errorf("echo corrupted")
				}
				_ = c.Close()
			}
			return len(in)
		}
		ch.closed = func(c engine.Conn, err error) {
			if err != nil {
				t.Errorf("conn ended with %v", err)
			}
			closed.add(1)
		}
		all = append(all, k.dial(e, addr, ch, engine.DialOptions{}))
	}
	wait(t, opened.done, "1,000 connections open")
	for _, c := range all {
		if err := c.Execute(func() {
			if err := c.Write(msg); err != nil {
				t.Errorf("Write: %v", err)
			}
		}); err != nil {
			t.Fatalf("Execute: %v", err)
		}
	}
	wait(t, closed.done, "1,000 echoes")
}
