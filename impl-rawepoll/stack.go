package rawepoll

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/loopkit"
	"golang.org/x/sys/unix"
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
	// reusePort: one SO_REUSEPORT listening socket per worker (the kernel
	// spreads connections by 4-tuple hash) instead of one socket handing
	// accepts to the least-loaded worker (Ceph's get_worker; measured in
	// spec/engine.md, "rawepoll").
	reusePort bool
	maxPipes  int  // bound on the splice pipe pool (HAProxy's maxpipes)
	noSplice  bool // force the buffered relay
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
	s := &Engine{cfg: cfg, opts: opts, pipes: &pipePool{max: opts.maxPipes, off: opts.noSplice}}
	s.reg.Init("rawepoll")
	for i := 0; i < cfg.Workers; i++ {
		c, err := newCenter(cfg.ExecuteQueueLimit)
		if err != nil {
			for _, w := range s.workers {
				w.center.closeFDs()
			}
			return nil, fmt.Errorf("rawepoll: worker %d: %w", i, err)
		}
		s.workers = append(s.workers, &worker{stack: s, center: c})
	}
	procs := int32(loopkit.ReserveProcs(cfg.Workers)) // a P per locked worker, one for the rest (spec/engine.md)
	for _, w := range s.workers {
		w.center.procs = procs
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

// worker is Ceph's Worker: one EventCenter run by one OS thread. The
// goroutine that runs it is locked to its thread (runtime.LockOSThread), so
// the loop never migrates and blocks in epoll_wait like a C worker would,
// keeping its P while another stays free for the rest of the process
// (wait.go; spec/engine.md §15, "GOMAXPROCS" and "Raw waits").
type worker struct {
	stack  *Engine
	center *center

	// load is Ceph's Worker::references: connections placed on this
	// worker and not yet closed. Placement picks the smallest.
	load atomic.Int64

	// Loop-only state.
	rbufs    [][]byte // free read buffers (Config.ReadBufferSize each)
	iovs     [][]byte // scratch for writev
	iovecs   [loopkit.MaxIov]unix.Iovec
	stopping bool
}

// maxFreeReadBuffers bounds the per-worker read buffer pool; buffers beyond
// it go back to the garbage collector.
const maxFreeReadBuffers = 64

func (w *worker) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer w.stack.threads.Done()
	for !w.stopping {
		w.center.processEvents()
	}
	w.center.leave()
}

// stop is posted by Shutdown after every connection's close: the loop
// leaves after this turn; connections that reach it later (registrations
// already posted) are closed with ErrEngineClosed by register.
func (w *worker) stop() { w.stopping = true }

// getReadBuffer and putReadBuffer are the read-buffer pool: a connection
// holds a buffer only while it has unconsumed bytes, so idle connections
// cost no buffer memory (Ceph reads into a per-connection prefetch buffer;
// HAProxy's buffers come from a pool the same way).
func (w *worker) getReadBuffer() []byte {
	if n := len(w.rbufs); n > 0 {
		b := w.rbufs[n-1]
		w.rbufs[n-1] = nil
		w.rbufs = w.rbufs[:n-1]
		return b
	}
	return make([]byte, w.stack.cfg.ReadBufferSize)
}

func (w *worker) putReadBuffer(b []byte) {
	if len(w.rbufs) < maxFreeReadBuffers && cap(b) == w.stack.cfg.ReadBufferSize {
		w.rbufs = append(w.rbufs, b[:cap(b)])
	}
}
