package rawepoll

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	// defaultMaxPipes bounds the pipes the engine holds, busy or free, like
	// HAProxy's maxpipes: each costs two descriptors and up to pipeSize of
	// kernel memory. A relay that finds none copies through a buffer.
	defaultMaxPipes = 1024
	// pipeSize is Linux's default pipe capacity, the most one splice into
	// the pipe moves.
	pipeSize = 64 << 10
)

// pipe is one kernel pipe used as a splice buffer.
type pipe struct{ r, w int }

// pipePool hands out pipes for splicing, shared by the workers.
type pipePool struct {
	enabled atomic.Bool

	mu     sync.Mutex
	free   []*pipe
	n      int // pipes in existence, free or in use
	max    int
	closed bool
}

func newPipePool(max int, enabled bool) *pipePool {
	p := &pipePool{max: max}
	p.enabled.Store(enabled)
	return p
}

// get returns an empty pipe, or nil when splicing is off or the pool is
// at its bound.
func (p *pipePool) get() *pipe {
	if !p.enabled.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if n := len(p.free); n > 0 {
		pp := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return pp
	}
	if p.n >= p.max {
		return nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil
	}
	p.n++
	return &pipe{r: fds[0], w: fds[1]}
}

// put takes back an empty pipe.
func (p *pipePool) put(pp *pipe) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(pp)
		return
	}
	p.free = append(p.free, pp)
	p.mu.Unlock()
}

// discard closes a pipe that still holds bytes (or that nobody needs).
func (p *pipePool) discard(pp *pipe) {
	closeFD(pp.r)
	closeFD(pp.w)
	p.mu.Lock()
	p.n--
	p.mu.Unlock()
}

// disable stops handing out pipes once the kernel refused to splice.
func (p *pipePool) disable() { p.enabled.Store(false) }

// inUse reports pipes in existence and free ones (for tests).
func (p *pipePool) stats() (total, free int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, len(p.free)
}

// close releases the free pipes; pipes still in use are closed when
// their relay ends.
func (p *pipePool) close() {
	p.mu.Lock()
	p.closed = true
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, pp := range free {
		p.discard(pp)
	}
}
