package rawepoll

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// TestConcurrentWriters: Write and Writev from several goroutines at once,
// racing the loop's own flushes and the direct-send path, keep each
// writer's records whole and in order.
func TestConcurrentWriters(t *testing.T) {
	const writers, records = 4, 3000
	e, err := New(engine.Config{Workers: 2, OutQueueLimit: 64 << 10, OutQueueHighWater: 32 << 10, OutQueueLowWater: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownEngine(t, e)

	var next [writers]uint32
	var bad string
	done := make(chan struct{})
	got := 0
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return &funcHandler{data: func(c engine.Conn, in []byte) int {
			used := 0
			// Record: writer (1 byte), seq (4), length (2), body.
			for len(in)-used >= 7 {
				w, seq, n := in[used], binary.BigEndian.Uint32(in[used+1:]), int(binary.BigEndian.Uint16(in[used+5:]))
				if len(in)-used < 7+n {
					break
				}
				body := in[used+7 : used+7+n]
				switch {
				case int(w) >= writers:
					bad = "bad writer id"
				case seq != next[w]:
					bad = "record out of order"
				}
				for _, b := range body {
					if b != byte(seq) {
						bad = "torn record"
					}
				}
				if bad != "" {
					close(done)
					_ = c.Close()
					return len(in)
				}
				next[w]++
				got++
				used += 7 + n
				if got == writers*records {
					close(done)
				}
			}
			return used
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	c, err := e.Dial(ln.Addr().String(), &funcHandler{open: func(engine.Conn) { close(opened) }}, engine.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-opened
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint32(0); seq < records; seq++ {
				n := int(seq*7919+uint32(w)*131) % 3000
				hdr := make([]byte, 7)
				hdr[0] = byte(w)
				binary.BigEndian.PutUint32(hdr[1:], seq)
				binary.BigEndian.PutUint16(hdr[5:], uint16(n))
				body := make([]byte, n)
				for i := range body {
					body[i] = byte(seq)
				}
				for {
					var err error
					if seq%2 == 0 {
						err = c.Writev([][]byte{hdr, body})
					} else {
						err = c.Write(append(hdr, body...))
					}
					if err == nil {
						break
					}
					if !errors.Is(err, engine.ErrOutQueueFull) {
						t.Errorf("write: %v", err)
						return
					}
					runtime.Gosched() // the test's writers poll; handlers would wait for OnDrained
				}
			}
		}()
	}
	wg.Wait()
	waitCh(t, done, "all records")
	if bad != "" {
		t.Fatal(bad)
	}
}
