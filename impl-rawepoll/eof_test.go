package rawepoll

import (
	"net"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// TestEOFWithData: the peer's bytes and FIN arrive together, so the
// readiness carries EPOLLRDHUP and the loop takes the EOF without a read
// of 0 (conn_read.go). The handler still gets every byte, then OnReadEOF;
// one that pauses in OnData gets the EOF only after ResumeRead.
func TestEOFWithData(t *testing.T) {
	for _, pause := range []bool{false, true} {
		e, err := New(engine.Config{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []byte
		var resumed bool
		eof := make(chan bool, 1)
		ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
			return &funcHandler{
				data: func(c engine.Conn, in []byte) int {
					mu.Lock()
					got = append(got, in...)
					mu.Unlock()
					if pause {
						c.PauseRead()
						go func() {
							mu.Lock()
							resumed = true
							mu.Unlock()
							_ = c.Execute(c.ResumeRead)
						}()
					}
					return len(in)
				},
				eof: func(c engine.Conn) {
					mu.Lock()
					eof <- !pause || resumed
					mu.Unlock()
					_ = c.Close()
				},
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		_ = cl.(*net.TCPConn).CloseWrite()
		if ok := <-eof; !ok {
			t.Errorf("pause=%v: OnReadEOF before ResumeRead", pause)
		}
		mu.Lock()
		if string(got) != "hello" {
			t.Errorf("pause=%v: got %q before EOF, want hello", pause, got)
		}
		mu.Unlock()
		_ = cl.Close()
		shutdownEngine(t, e)
	}
}
