package rawtcp

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/loadgen"
)

// The load generators against the raw server: the same code paths the
// harness uses for the TCP floor.
func TestLoadgensAgainstRawServer(t *testing.T) {
	s, err := Listen("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	echo, sinkAddr, txnAddr := s.Echo.Addr().String(), s.Sink.Addr().String(), s.Txn.Addr().String()
	bg := context.Background()
	d := 200 * time.Millisecond

	tests := []struct {
		name string
		run  func() loadgen.Result
	}{
		{"pingpong closed 4KiB", func() loadgen.Result {
			return loadgen.RunPingPong(bg, loadgen.PingPong{Addr: echo, Conns: 2, Size: 4096, Duration: d, Warmup: 20 * time.Millisecond})
		}},
		{"pingpong open 1kHz", func() loadgen.Result {
			return loadgen.RunPingPong(bg, loadgen.PingPong{Addr: echo, Conns: 1, Size: 64, Duration: d, Rate: 1000})
		}},
		{"keepalive frames to raw echo", func() loadgen.Result {
			return loadgen.RunPingPong(bg, loadgen.PingPong{Addr: echo, Conns: 1, Protocol: "ka-raw", Duration: d})
		}},
		{"keepalive pipeline to raw echo", func() loadgen.Result {
			// Batch above the window must be clamped, not deadlock.
			return loadgen.RunPipeline(bg, loadgen.Pipeline{Addr: echo, Protocol: "ka-raw", Window: 64, Batch: 128, Duration: d})
		}},
		{"stream x2", func() loadgen.Result {
			return loadgen.RunStream(bg, loadgen.Stream{Addr: sinkAddr, Streams: 2, BufSize: 64 << 10, Duration: d, Warmup: 20 * time.Millisecond})
		}},
		{"connrate", func() loadgen.Result {
			return loadgen.RunConnRate(bg, loadgen.ConnRate{Addr: txnAddr, Loops: 2, Duration: d})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			if r.Err != "" || r.Errors != 0 {
				t.Fatalf("error: %s (%d)", r.Err, r.Errors)
			}
			if r.Ops <= 0 || r.OpsPerS <= 0 {
				t.Fatalf("no work done: %+v", r)
			}
			if r.Kind == "pingpong" && (r.Latency == nil || r.Latency.Count != r.Ops) {
				t.Fatalf("histogram count %+v != ops %d", r.Latency, r.Ops)
			}
			if r.Kind == "stream" && r.Bytes < int64(64<<10) {
				t.Fatalf("stream delivered only %d bytes", r.Bytes)
			}
		})
	}
	t.Run("open loop holds its rate", func(t *testing.T) {
		r := loadgen.RunPingPong(bg, loadgen.PingPong{Addr: echo, Conns: 1, Size: 64, Duration: 300 * time.Millisecond, Rate: 500})
		// 500/s for 0.3 s is 150 requests; the schedule, not the server, decides.
		if r.Ops < 140 || r.Ops > 151 {
			t.Fatalf("open loop sent %d requests, want ~150", r.Ops)
		}
	})
	// A window that is over before any loop runs (the limit of a 10-50 ms
	// window on a loaded machine, where TestRunnerWithFakeEngine once
	// failed with "nothing completed in 50ms") still measures one
	// operation per loop: loadgen's MinOneSample. Before it, all four
	// counted nothing, whatever the machine's speed.
	t.Run("window already over", func(t *testing.T) {
		if r := loadgen.RunConnRate(bg, loadgen.ConnRate{Addr: txnAddr, Loops: 3, Warmup: 0, Duration: 0}); r.Err != "" || r.Ops != 3 {
			t.Errorf("connrate: %d transactions (%s), want one per loop", r.Ops, r.Err)
		}
		for _, rate := range []float64{0, 1000} {
			if r := loadgen.RunPingPong(bg, loadgen.PingPong{Addr: echo, Conns: 2, Size: 64, Duration: 0, Rate: rate}); r.Err != "" || r.Ops != 2 {
				t.Errorf("pingpong rate %v: %d round trips (%s), want one per connection", rate, r.Ops, r.Err)
			}
		}
		if r := loadgen.RunPipeline(bg, loadgen.Pipeline{Addr: echo, Protocol: "ka-raw", Window: 8, Batch: 8, Duration: 0}); r.Err != "" || r.Ops < 1 {
			t.Errorf("pipeline: %d acks (%s), want at least one", r.Ops, r.Err)
		}
		if r := loadgen.RunStream(bg, loadgen.Stream{Addr: sinkAddr, Streams: 2, BufSize: 4096, Duration: 0}); r.Err != "" || r.Bytes < 2*4096 {
			t.Errorf("stream: %d bytes (%s), want a write per stream", r.Bytes, r.Err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		ic := loadgen.OpenIdle(loadgen.Idle{Addr: echo, N: 20})
		defer ic.Close()
		if ic.Res.Err != "" || ic.Res.Ops != 20 {
			t.Fatalf("idle: %+v", ic.Res)
		}
	})
}
