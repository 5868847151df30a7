//go:build dpdk

package dpdkengine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// TestZeroWindowLossyKernelPeer is the zero-window regression test in the
// setting where the stall was found: a Linux TCP peer (a kernel client in
// the namespace) echoes 32 MiB through the engine over the tap, with 2 %
// deterministic loss each way injected in the DPDK link endpoint, the
// engine's echo pausing reads while its out-queue is full and in timed
// phases, and the client pausing its reads in phases too.
func TestZeroWindowLossyKernelPeer(t *testing.T) {
	const total = 32 << 20
	ep := runtimeEndpoint()
	ep.SetLoss(20_000)
	t.Cleanup(func() { ep.SetLoss(0); ep.SetAckRescue(true) })
	if os.Getenv("NETMODELS_DPDK_NO_RESCUE") == "1" {
		ep.SetAckRescue(false)
	}
	before := ep.Stats()
	e, err := New(engine.Config{Workers: 1, OutQueueLimit: 256 << 10, OutQueueHighWater: 128 << 10, OutQueueLowWater: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	ln, err := e.Listen("0.0.0.0:0", func(engine.Conn) engine.Handler {
		return &echoServer{pauseEvery: 4 << 20, pauseFor: int64(30 * time.Millisecond), nextPause: 4 << 20}
	})
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	for try := 0; ; try++ { // the injected loss may eat the SYN or its ARP
		if c, err = net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second); err == nil || try == 5 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(45 * time.Second))
	werr := make(chan error, 1)
	go func() {
		b := make([]byte, 64<<10)
		for off := 0; off < total; off += len(b) {
			for i := range b {
				b[i] = pattern(int64(off + i))
			}
			if _, err := c.Write(b); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	buf := make([]byte, 64<<10)
	var got int64
	next := int64(3 << 20)
	for got < total {
		n, err := c.Read(buf)
		for i := 0; i < n; i++ {
			if buf[i] != pattern(got+int64(i)) {
				t.Fatalf("echo byte %d differs", got+int64(i))
			}
		}
		got += int64(n)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
				st := ep.Stats()
				t.Fatalf("stalled: %d of %d bytes echoed (%v); zero windows %d, ACK rescues %d", got, total, err,
					st.ZeroWindows-before.ZeroWindows, st.AckRescues-before.AckRescues)
			}
			t.Fatal(err)
		}
		if got >= next {
			next += 3 << 20
			time.Sleep(30 * time.Millisecond) // a reader pause: our window closes
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	st := ep.Stats()
	t.Logf("%s", fmt.Sprintf("32 MiB echo in %v (%.1f MB/s each way); injected loss %d frames, zero windows %d, ACK rescues %d",
		el.Round(time.Millisecond), float64(total)/el.Seconds()/1e6, st.Lost-before.Lost,
		st.ZeroWindows-before.ZeroWindows, st.AckRescues-before.AckRescues))
}
