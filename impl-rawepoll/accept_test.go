package rawepoll

import (
	"context"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// TestReusePortListener: in SO_REUSEPORT mode every worker has its own
// listening socket on the same port, connections are accepted and stay on
// the worker that accepted them, and Close releases every socket.
func TestReusePortListener(t *testing.T) {
	e, err := newEngine(engine.Config{Workers: 3}, options{reusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	}()
	fds := enginetest.OpenFDs(t)
	enginetest.ConnectCloseCycles(t, e, 300, 8)
	deadline := time.Now().Add(10 * time.Second)
	for enginetest.OpenFDs(t) != fds && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := enginetest.OpenFDs(t); got != fds {
		t.Errorf("open fds %d after the reuseport listener closed, %d before", got, fds)
	}
}

// BenchmarkAcceptMode compares the two ways accepted sockets reach
// workers: one listener handing each socket to the least-loaded worker
// (Ceph's get_worker), or one SO_REUSEPORT listener per worker. Each op is
// one connect, accept, close on both sides, 16 in flight.
func BenchmarkAcceptMode(b *testing.B) {
	for _, m := range []struct {
		name      string
		reusePort bool
	}{{"LeastLoaded", false}, {"ReusePort", true}} {
		b.Run(m.name, func(b *testing.B) {
			e, err := newEngine(engine.Config{}, options{reusePort: m.reusePort})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = e.Shutdown(ctx)
			})
			b.ResetTimer()
			enginetest.ConnectCloseCycles(b, e, b.N, 16)
		})
	}
}
