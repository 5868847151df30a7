package rawepoll

import (
	"errors"
	"fmt"
	"sync"

	"github.com/netmodels/netmodels/core/engine"
	"golang.org/x/sys/unix"
)

// ErrSpliceUnsupported is returned by Splice when dst is not a connection
// of the same rawepoll engine on the same worker (dial it with
// DialOptions.Near); the caller then relays through OnData and Write.
var ErrSpliceUnsupported = fmt.Errorf("rawepoll: splice: %w", errors.ErrUnsupported)

var errSpliceBusy = errors.New("rawepoll: splice: already splicing")

// relay moves bytes from src to dst on their shared loop, HAProxy style:
// socket → pipe → socket with splice(2) when a pipe is available from the
// pool, otherwise through a read buffer and dst's out-queue. Either way it
// reads src only while dst can take more (the pipe is empty and dst's
// out-queue is empty; or, buffered, dst's out-queue is under its high-water
// mark), so the backpressure of dst's socket reaches src's peer.
//
// Order of bytes: src bytes already received but not consumed go first
// (into dst's out-queue), and the pipe is filled only when dst's out-queue
// is empty, so everything written to dst before the splice precedes it.
// Bytes written to dst while it runs go out between pipe-loads; a
// CloseWrite on dst waits until the relay ends.
//
// Reports, as in every engine: done runs on the loop with the count and
// nil at src's EOF (no OnReadEOF follows) or at the limit (OnData resumes),
// or an error (dst's write error, dst closed, src's read error; src is then
// closed with it). If src itself is closed, its OnClose is the only report.
type relay struct {
	src, dst   *conn
	limit      int64 // < 0: none
	n          int64 // bytes handed to dst's socket or out-queue
	done       func(n int64, err error)
	pipe       *pipe // nil: buffered copies
	inPipe     int
	srcEOF     bool
	dstBlocked bool // pipe→dst hit EAGAIN: dst waits for EPOLLOUT
	ended      bool
}

// Splice implements engine.Splicer.
func (c *conn) Splice(dst engine.Conn, limit int64, done func(n int64, err error)) error {
	d, ok := dst.(*conn)
	if !ok || d.w != c.w {
		return ErrSpliceUnsupported
	}
	if d == c || done == nil {
		return fmt.Errorf("rawepoll: splice: bad arguments")
	}
	c.mu.Lock()
	switch {
	case c.out.Discarded():
		c.mu.Unlock()
		return engine.ErrClosed
	case c.pendRelay != nil:
		c.mu.Unlock()
		return errSpliceBusy
	}
	c.pendRelay = &relay{src: c, dst: d, limit: limit, done: done}
	c.spliceReq.Store(true)
	c.mu.Unlock()
	_ = c.w.center.post(c.startRelay)
	return nil
}

// startRelay runs on the loop after the callback that called Splice.
func (c *conn) startRelay() {
	c.mu.Lock()
	r := c.pendRelay
	c.pendRelay = nil
	c.spliceReq.Store(false)
	c.mu.Unlock()
	if r == nil {
		return
	}
	defer c.afterRelayStart()
	d := r.dst
	switch {
	case c.relay != nil || d.relayIn != nil:
		r.done(0, errSpliceBusy)
		return
	case c.eof || d.state == stateClosed || d.Closed():
		r.done(0, engine.ErrClosed)
		return
	}
	c.relay, d.relayIn = r, r
	d.relaying.Store(true)
	if m := r.room(c.rend - c.rstart); m > 0 {
		d.enqueueRelayed(c.rbuf[c.rstart : c.rstart+m])
		c.rstart += m
		r.n += int64(m)
		c.releaseEmptyBuffer()
	}
	if r.room(1) > 0 { // nil when noSplice, or none is free
		r.pipe = c.w.stack.pipes.get()
	}
	if d.state == stateOpen {
		d.flushAndNotify() // sends the buffered bytes; calls dstReady
	}
	if !r.ended {
		r.dstReady()
	}
}

// afterRelayStart puts src back to plain reading if the relay did not
// take over (it was refused or already ended): bytes held while the
// Splice was pending are delivered, and the read interest is restored.
func (c *conn) afterRelayStart() {
	if c.relay != nil || c.state != stateOpen || c.spliceReq.Load() {
		return
	}
	c.updateInterest()
	if c.rend > c.rstart || (c.eof && !c.eofReported) {
		c.deliver()
	}
}

// room is how many more bytes the relay may take from src (room(1) == 0:
// the limit is reached).
func (r *relay) room(max int) int {
	if r.limit < 0 {
		return max
	}
	return int(min(int64(max), r.limit-r.n-int64(r.inPipe)))
}

// wantsSource decides src's read interest while relaying.
func (r *relay) wantsSource() bool {
	if r.ended || r.srcEOF || r.room(1) == 0 || r.dst.state != stateOpen {
		return false
	}
	if r.pipe != nil {
		return r.inPipe == 0 && r.dst.OutQueued() == 0
	}
	return r.dst.OutQueued() < r.src.w.stack.cfg.OutQueueHighWater
}

// dstReady runs when dst has sent what it could: move the pipe on, end
// the relay if there is nothing more to move, or let src be read again.
func (r *relay) dstReady() {
	if r.ended {
		return
	}
	if r.inPipe > 0 {
		r.drainPipe()
		if r.ended || r.inPipe > 0 {
			return
		}
	}
	if r.srcEOF || r.room(1) == 0 {
		r.end(nil, true)
		return
	}
	r.src.updateInterest()
}

// pump is src's read callback while relaying: one read (or one splice)
// per readiness, then as much as dst takes.
func (r *relay) pump() {
	if !r.wantsSource() {
		r.src.updateInterest()
		return
	}
	if r.pipe == nil {
		r.pumpCopy()
		return
	}
	// As for plain reads: go on while each splice fills the pipe and dst
	// takes it all, within readsPerEvent.
	for range readsPerEvent {
		if !r.pumpPipe() || r.ended || r.pipe == nil || !r.wantsSource() {
			return
		}
	}
}

// pumpPipe moves one pipe-load from src to dst and reports whether the
// load was full (src may hold more).
func (r *relay) pumpPipe() bool {
	src := r.src
	want := r.room(pipeSize)
	k, err := unix.Splice(src.fd, nil, r.pipe.w, nil, want, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false
	case (err == unix.EINVAL || err == unix.ENOSYS) && r.inPipe == 0:
		// The kernel cannot splice these descriptors: give the pipe back,
		// stop asking for pipes, and copy instead.
		src.w.stack.pipes.disable()
		src.w.stack.pipes.put(r.pipe)
		r.pipe = nil
		r.pumpCopy()
		return false
	case err != nil:
		r.fail(r.src, "read", err)
		return false
	case k == 0:
		r.srcEOF = true
		r.dstReady()
		return false
	}
	r.inPipe += int(k)
	r.drainPipe()
	if !r.ended && r.inPipe == 0 {
		r.dstReady()
	}
	return int(k) == want
}

// drainPipe splices the pipe into dst until it is empty or dst is full.
func (r *relay) drainPipe() {
	d := r.dst
	for r.inPipe > 0 {
		k, err := unix.Splice(r.pipe.r, nil, d.fd, nil, r.inPipe, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			r.dstBlocked = true
			d.updateInterest()
			r.src.updateInterest()
			return
		}
		if err != nil {
			r.fail(r.dst, "write", err)
			return
		}
		r.inPipe -= int(k)
		r.n += int64(k)
	}
	if r.dstBlocked {
		r.dstBlocked = false
		d.updateInterest()
	}
}

// pumpCopy is the relay without a pipe: one read through a pooled buffer
// into dst's out-queue.
func (r *relay) pumpCopy() {
	buf := r.src.w.getReadBuffer()
	defer r.src.w.putReadBuffer(buf)
	k, err := unix.Read(r.src.fd, buf[:r.room(len(buf))])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
	case err != nil:
		r.fail(r.src, "read", err)
	case k == 0:
		r.srcEOF = true
		r.dstReady()
	default:
		r.dst.enqueueRelayed(buf[:k])
		r.n += int64(k)
		r.dst.flushAndNotify() // ends in dstReady
	}
}

// fail ends the relay with c's error (src's read or dst's write) and
// closes c with it.
func (r *relay) fail(c *conn, op string, err error) {
	err = c.opError(op, err)
	r.end(err, true)
	c.closeNow(err)
}

// end detaches the relay and reports it (unless src is closing: its
// OnClose is the report). After it src reads for OnData again, unless it
// reached EOF, and dst may send its FIN.
func (r *relay) end(err error, report bool) {
	if r.ended {
		return
	}
	r.ended = true
	src, dst := r.src, r.dst
	src.relay, dst.relayIn = nil, nil
	dst.relaying.Store(false)
	if r.pipe != nil {
		if r.inPipe == 0 {
			src.w.stack.pipes.put(r.pipe)
		} else {
			src.w.stack.pipes.discard(r.pipe)
		}
		r.pipe = nil
	}
	if r.srcEOF {
		src.eof, src.eofReported = true, true
	}
	src.updateInterest()
	if dst.state == stateOpen {
		dst.updateInterest()
		dst.postFlush() // a CloseWrite may be waiting
	}
	if report && src.state != stateClosed {
		r.done(r.n, err)
	}
}

// enqueueRelayed queues relayed bytes on dst, outside the writer's
// limits: the relay bounds them itself (it reads only below high water).
func (c *conn) enqueueRelayed(b []byte) {
	c.mu.Lock()
	c.out.AppendCopy(b)
	c.mu.Unlock()
}

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
	mu     sync.Mutex
	free   []*pipe
	n      int // pipes in existence, free or in use
	max    int
	off    bool // options.noSplice, or the kernel refused to splice
	closed bool
}

// get returns an empty pipe, or nil when splicing is off or the pool is
// at its bound.
func (p *pipePool) get() *pipe {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off || p.closed {
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
	unix.Close(pp.r)
	unix.Close(pp.w)
	p.mu.Lock()
	p.n--
	p.mu.Unlock()
}

// disable stops handing out pipes once the kernel refused to splice.
func (p *pipePool) disable() {
	p.mu.Lock()
	p.off = true
	p.mu.Unlock()
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
