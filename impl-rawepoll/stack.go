package rawepoll

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// Engine is Ceph's NetworkStack for this engine: N workers, each an
// EventCenter on its own OS thread, plus the listeners and the pipe pool
// they share.
type Engine struct {
	cfg     engine.Config
	opts    options
	workers []*worker
	pipes   *pipePool

	listenSeq atomic.Int64

	reg      loopkit.Registry[*listener, *conn]
	stopOnce sync.Once
	stopped  chan struct{} // closed when every worker has exited
}

// options are the engine's own knobs, beyond engine.Config; tests and
// benchmarks use them to compare choices.
type options struct {
	accept   acceptMode
	maxPipes int  // bound on the splice pipe pool (HAProxy's maxpipes)
	noSplice bool // force the buffered relay
}

// New builds and starts an engine (the constructor bin/rawepoll uses).
func New(cfg engine.Config) (engine.Engine, error) {
	return newEngine(cfg, options{})
}

func newEngine(cfg engine.Config, opts options) (*Engine, error) {
	cfg = cfg.WithDefaults(runtime.NumCPU())
	if opts.maxPipes <= 0 {
		opts.maxPipes = defaultMaxPipes
	}
	s := &Engine{
		cfg:     cfg,
		opts:    opts,
		pipes:   newPipePool(opts.maxPipes, !opts.noSplice),
		stopped: make(chan struct{}),
	}
	s.reg.Init("rawepoll")
	for i := 0; i < cfg.Workers; i++ {
		w, err := newWorker(s, i)
		if err != nil {
			for _, w := range s.workers {
				w.center.closeFDs()
			}
			return nil, fmt.Errorf("rawepoll: worker %d: %w", i, err)
		}
		s.workers = append(s.workers, w)
	}
	for _, w := range s.workers {
		go w.run()
	}
	go func() {
		for _, w := range s.workers {
			<-w.done
		}
		s.pipes.close()
		close(s.stopped)
	}()
	return s, nil
}

// Name implements engine.Engine.
func (s *Engine) Name() string { return "rawepoll" }

// Shutdown implements engine.Engine in Ceph's order (NetworkStack::stop),
// loopkit's: stop accepting, close every connection (OnClose with
// ErrEngineClosed, on its worker), then have each worker leave its loop
// once it has run what was posted before, and join the threads.
func (s *Engine) Shutdown(ctx context.Context) error {
	return s.reg.Shutdown(ctx, func(ctx context.Context) error {
		s.stopOnce.Do(func() {
			for _, w := range s.workers {
				_ = w.center.post(w.stop)
			}
		})
		select {
		case <-s.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}
