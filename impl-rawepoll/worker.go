package rawepoll

import (
	"runtime"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine/loopkit"
	"golang.org/x/sys/unix"
)

// worker is Ceph's Worker: one EventCenter run by one OS thread. The
// goroutine that runs it is locked to its thread (runtime.LockOSThread), so
// the loop never migrates and blocks in epoll_wait like a C worker would.
// The runtime sees that wait as a system call: the worker's P goes to other
// goroutines once sysmon retakes it (spec/engine.md, "GOMAXPROCS").
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

func newWorker(s *Engine) (*worker, error) {
	c, err := newCenter(s.cfg.ExecuteQueueLimit)
	if err != nil {
		return nil, err
	}
	return &worker{stack: s, center: c}, nil
}

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
