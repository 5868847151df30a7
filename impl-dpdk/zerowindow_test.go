package dpdkengine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// pipeStacks joins two gVisor stacks through the real link endpoint over
// an in-memory wire, each with its own poller, like two DPDK processes on
// memif; a's endpoint loses lossPerMillion of the frames each way. No DPDK
// is needed, so this runs in every build.
func pipeStacks(t *testing.T, lossPerMillion uint32) (a, b *Netstack, pa, pb *pipePort, ea, eb *link.Endpoint) {
	t.Helper()
	pa, pb = newPipe(1024)
	ea, eb = link.New(pa, 1500), link.New(pb, 1500)
	ea.SetLoss(lossPerMillion)
	var err error
	if a, err = NewNetstack(ea, netip.MustParsePrefix("198.51.100.1/24"), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if b, err = NewNetstack(eb, netip.MustParsePrefix("198.51.100.2/24"), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	var ctl link.PollControl
	done := make(chan struct{}, 2)
	for _, ep := range []*link.Endpoint{ea, eb} {
		go func() { ep.Poll(&ctl); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		ctl.Stop.Store(true)
		<-done
		<-done
		a.Stack.Close()
		b.Stack.Close()
	})
	return a, b, pa, pb, ea, eb
}

func pattern(off int64) byte { return byte(off % 251) }

// echoServer echoes with real backpressure: when its out-queue is full it
// holds the bytes (at most one read buffer), pauses reading and sends them
// on OnDrained. Every pauseEvery bytes it also pauses reading for pauseFor.
type echoServer struct {
	engine.BaseHandler
	pauseEvery, pauseFor int64
	got, nextPause       int64
	held                 []byte
}

func (s *echoServer) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(in); err != nil {
		s.held = append(s.held[:0], in...)
		c.PauseRead() // out-queue full: resume on OnDrained
	}
	s.got += int64(len(in))
	if s.got >= s.nextPause {
		s.nextPause += s.pauseEvery
		c.PauseRead()
		c.AfterFunc(time.Duration(s.pauseFor), func() {
			if len(s.held) == 0 {
				c.ResumeRead()
			}
		})
	}
	return len(in)
}

func (s *echoServer) OnDrained(c engine.Conn) {
	if len(s.held) > 0 {
		if err := c.Write(s.held); err != nil {
			return // still full: the refusal makes another OnDrained owed
		}
		s.held = s.held[:0]
	}
	c.ResumeRead()
}

// echoClient sends total bytes and checks the echo, pausing reads in
// phases too, so both receivers advertise zero windows while data flows.
type echoClient struct {
	engine.BaseHandler
	total, sent, got, nextPause int64
	pauseEvery, pauseFor        int64
	done                        chan error
}

func (k *echoClient) OnOpen(c engine.Conn) { k.fill(c) }

func (k *echoClient) fill(c engine.Conn) {
	for k.sent < k.total {
		n := min(64<<10, k.total-k.sent)
		b := make([]byte, n)
		for i := range b {
			b[i] = pattern(k.sent + int64(i))
		}
		if err := c.Write(b); err != nil {
			if !errors.Is(err, engine.ErrOutQueueFull) {
				k.done <- err
			}
			return
		}
		k.sent += n
	}
}

func (k *echoClient) OnDrained(c engine.Conn) { k.fill(c) }

func (k *echoClient) OnData(c engine.Conn, in []byte) int {
	for i, b := range in {
		if b != pattern(k.got+int64(i)) {
			k.done <- fmt.Errorf("echo byte %d = %d, want %d", k.got+int64(i), b, pattern(k.got+int64(i)))
			_ = c.Close()
			return len(in)
		}
	}
	k.got += int64(len(in))
	if k.got == k.total {
		k.done <- nil
		_ = c.Close()
		return len(in)
	}
	if k.got >= k.nextPause {
		k.nextPause += k.pauseEvery
		c.PauseRead()
		c.AfterFunc(time.Duration(k.pauseFor), c.ResumeRead)
	}
	return len(in)
}

func (k *echoClient) OnClose(_ engine.Conn, err error) {
	if err != nil {
		select {
		case k.done <- err:
		default:
		}
	}
}

// TestZeroWindowLossyEcho is the regression test for gVisor's zero-window
// stall (research/dpdk-gvisor.md): 32 MiB echoed through the real link
// endpoint with 2 % deterministic loss each way and PauseRead phases on
// both ends must complete. Without the link endpoint's zero-window ACK
// rescue (zerowindow.go) it stalls in most runs.
func TestZeroWindowLossyEcho(t *testing.T) {
	const total = 32 << 20
	nsA, nsB, pa, pb, ea, eb := pipeStacks(t, 20_000)
	if os.Getenv("NETMODELS_DPDK_NO_RESCUE") == "1" { // to watch the stall happen
		ea.SetAckRescue(false)
		eb.SetAckRescue(false)
	}
	// A small out-queue makes the server's PauseRead depend on its sends
	// being ACKed: the loop that deadlocks when ACKs are ignored.
	srv := NewOn(nsA, engine.Config{Workers: 1, OutQueueLimit: 256 << 10, OutQueueHighWater: 128 << 10, OutQueueLowWater: 64 << 10})
	cli := NewOn(nsB, engine.Config{Workers: 1})
	t.Cleanup(func() {
		_ = cli.Shutdown(t.Context())
		_ = srv.Shutdown(t.Context())
	})
	ln, err := srv.Listen("198.51.100.1:7000", func(engine.Conn) engine.Handler {
		return &echoServer{pauseEvery: 4 << 20, pauseFor: int64(30 * time.Millisecond), nextPause: 4 << 20}
	})
	if err != nil {
		t.Fatal(err)
	}
	k := &echoClient{total: total, pauseEvery: 3 << 20, nextPause: 3 << 20, pauseFor: int64(30 * time.Millisecond), done: make(chan error, 4)}
	start := time.Now()
	if _, err := cli.Dial(ln.Addr().String(), k, engine.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-k.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("stalled: %d of %d bytes echoed after 45 s (lost %d frames, rescued %d/%d ACKs)",
			atomic.LoadInt64(&k.got), total, ea.Stats().Lost, ea.Stats().AckRescues, eb.Stats().AckRescues)
	}
	el := time.Since(start)
	t.Logf("32 MiB echo in %v (%.1f MB/s each way); lost %d frames, overflow %d+%d, zero windows %d+%d, zero-window ACK rescues %d+%d",
		el.Round(time.Millisecond), float64(total)/el.Seconds()/1e6, ea.Stats().Lost,
		pa.Overflow.Load(), pb.Overflow.Load(), ea.Stats().ZeroWindows, eb.Stats().ZeroWindows, ea.Stats().AckRescues, eb.Stats().AckRescues)
}
