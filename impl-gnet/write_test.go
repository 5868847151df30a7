package gnetengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// writeCfg: small marks, so that most of writeSizes pass high water.
var writeCfg = engine.Config{Workers: 1, ReadBufferSize: 16 << 10, OutQueueHighWater: 8 << 10, OutQueueLowWater: 4 << 10, OutQueueLimit: 1 << 20}

// writerHandler reports OnOpen and every OnDrained.
type writerHandler struct {
	engine.BaseHandler
	opened  chan struct{}
	drained chan struct{} // buffered 1: a refused writer waits on it
}

func (h *writerHandler) OnOpen(engine.Conn) { close(h.opened) }
func (h *writerHandler) OnDrained(engine.Conn) {
	select {
	case h.drained <- struct{}{}:
	default:
	}
}

// dialPlain dials a plain listener with a gnet connection; the accepted
// side is returned for the test to read.
func dialPlain(t *testing.T, cfg engine.Config) (*conn, *writerHandler, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newTestEngine(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	h := &writerHandler{opened: make(chan struct{}), drained: make(chan struct{}, 1)}
	c, err := e.Dial(ln.Addr().String(), h, engine.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	waitOpen(t, c, h.opened)
	return c.(*conn), h, peer
}

// A write above high water with nothing queued goes to the socket from
// the writer (as gnet's own Conn.Write does): nothing is left queued when
// the socket has room, so a relay has nothing to pause its source for.
// A smaller one is queued for the loop's flush.
func TestLargeWriteGoesOutAtOnce(t *testing.T) {
	c, _, peer := dialPlain(t, writeCfg)
	big := make([]byte, writeCfg.OutQueueHighWater+1000) // a fresh socket takes it whole
	if err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if q := c.OutQueued(); q != 0 {
		t.Fatalf("%d bytes queued after a %d-byte write to an empty socket, want 0", q, len(big))
	}
	if _, err := io.ReadFull(peer, big); err != nil {
		t.Fatal(err)
	}
}

// Writes of every size, from a goroutine and from the loop, mixed with
// Writev and with a reader that lags behind (the socket fills: EAGAIN,
// the queue, waitWritable), arrive whole and in order.
func TestWritesKeepOrder(t *testing.T) {
	writeSizes := []int{100, 20000, 7, 65536, 3000, 300000, 1, 9000}
	const total = 24 << 20
	for _, mode := range []string{"goroutine", "loop", "writev"} {
		t.Run(mode, func(t *testing.T) {
			c, h, peer := dialPlain(t, writeCfg)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 256<<10)
				for got := 0; got < total; {
					n, err := peer.Read(buf)
					for i := range n {
						if buf[i] != byte((got+i)%251) {
							done <- fmt.Errorf("byte %d is %d, want %d", got+i, buf[i], byte((got+i)%251))
							return
						}
					}
					got += n
					if err != nil {
						done <- fmt.Errorf("after %d bytes: %w", got, err)
						return
					}
				}
				done <- nil
			}()
			for off, i := 0, 0; off < total; i++ {
				n := min(writeSizes[i%len(writeSizes)], total-off)
				b := make([]byte, n)
				for j := range b {
					b[j] = byte((off + j) % 251)
				}
				for {
					var err error
					switch mode {
					case "goroutine":
						err = c.Write(b)
					case "writev":
						err = c.Writev([][]byte{b[:n/3], b[n/3 : n/2], b[n/2:]})
					case "loop":
						res := make(chan error, 1)
						if xerr := c.Execute(func() { res <- c.Write(b) }); xerr != nil {
							t.Fatal(xerr)
						}
						err = <-res
					}
					if err == nil {
						break
					}
					if !errors.Is(err, engine.ErrOutQueueFull) {
						t.Fatalf("write at %d: %v", off, err)
					}
					enginetest.Wait(t, h.drained, "OnDrained")
				}
				off += n
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("reader did not get every byte")
			}
		})
	}
}
