package rawepoll

import (
	"context"
	"fmt"
	"runtime"
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

	reg     loopkit.Registry[*listener, *conn]
	threads loopkit.Group // the workers' threads
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
	s := &Engine{cfg: cfg, opts: opts, pipes: newPipePool(opts.maxPipes, !opts.noSplice)}
	s.reg.Init("rawepoll")
	for i := 0; i < cfg.Workers; i++ {
		w, err := newWorker(s)
		if err != nil {
			for _, w := range s.workers {
				w.center.closeFDs()
			}
			return nil, fmt.Errorf("rawepoll: worker %d: %w", i, err)
		}
		s.workers = append(s.workers, w)
	}
	for _, w := range s.workers {
		s.threads.Add()
		go w.run()
	}
	return s, nil
}

// Name implements engine.Engine.
func (s *Engine) Name() string { return "rawepoll" }

// Shutdown implements engine.Engine in Ceph's order (NetworkStack::stop),
// loopkit's: stop accepting, close every connection (OnClose with
// ErrEngineClosed, on its worker), then have each worker leave its loop
// once it has run what was posted before, join the threads and close the
// pipe pool. A second call (after ctx ran out) waits again.
func (s *Engine) Shutdown(ctx context.Context) error {
	return s.reg.Shutdown(ctx, func(ctx context.Context) error {
		for _, w := range s.workers {
			_ = w.center.post(w.stop) // refused once w has left
		}
		if err := s.threads.Wait(ctx); err != nil {
			return err
		}
		s.pipes.close()
		return nil
	})
}
