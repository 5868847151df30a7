package rawepoll

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
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

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	stopped   chan struct{} // closed when every worker has exited
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
		cfg:       cfg,
		opts:      opts,
		pipes:     newPipePool(opts.maxPipes, !opts.noSplice),
		listeners: make(map[*listener]struct{}),
		stopped:   make(chan struct{}),
	}
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

func (s *Engine) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Engine) addListener(l *listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Engine) removeListener(l *listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
}

// Shutdown implements engine.Engine in Ceph's order (NetworkStack::stop):
// stop accepting, then have every worker close its connections
// (OnClose with ErrEngineClosed) and leave its loop, then join the threads.
func (s *Engine) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	ls := make([]*listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	if first {
		for _, l := range ls {
			_ = l.Close()
		}
		for _, w := range s.workers {
			w.center.control(w.stop)
		}
	}
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rawepoll: shutdown: %w", ctx.Err())
	}
}
