package rawepoll

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine/loopkit"
)

// maxEventsPerWait bounds one epoll_wait: a loop handles at most this many
// ready file descriptors before it runs its time and external events, so a
// flood of busy sockets cannot starve timers or Execute functions.
const maxEventsPerWait = 256

// maxWait caps one sleep in epoll_wait, as Ceph caps its
// process_events timeout (EventMaxWaitUs); nothing depends on it, it only
// bounds how long a lost wake-up could ever go unnoticed.
const maxWait = 30 * time.Second

// center is one worker's event loop, Ceph's EventCenter: an epoll set of
// file events, a heap of time events (loopkit.Timers) and a bounded queue
// of external events (loopkit.ExecQueue) posted from any thread and woken
// through an eventfd. Everything else in it belongs to the loop's thread.
//
// The epoll set is level-triggered, unlike Ceph's EpollDriver (EPOLLET):
// the contract makes the loop stop reading before a socket is empty all
// the time (partial consumption, pauses, a full buffer), and edge-triggered
// each of those would have to remember the readiness or lose the edge.
// Interest is exact, so no level stays asserted for nothing (spec/engine.md
// §15).
type center struct {
	epfd   int
	notify int // eventfd: the external-event doorbell
	events []unix.EpollEvent

	// File events, indexed by fd like Ceph's file_events vector. gen tags
	// each registration; the epoll data carries it so an event for an fd
	// that was closed and reused in the same batch is recognised as stale.
	files []*fileEvent
	gen   uint32
	bits  uint32       // the events of the callback running (finishConnect)
	offs  []*fileEvent // got an event while their mask is 0: DEL after the batch

	timers loopkit.Timers
	base   time.Time // monotonic origin of timer deadlines

	// External events: Execute functions (bounded), and the engine's own
	// events (flushes, closes, registrations, control), which are bounded
	// by the connections and listeners. A push onto a loop asleep in
	// epoll_wait rings the eventfd once (the queue's handshake), so a
	// burst of posts costs one write.
	q loopkit.ExecQueue

	procs int32 // GOMAXPROCS once the engine reserved its Ps (epollWait)
	// Blocking waits by kind (epollWait), loop only: for tests.
	rawWaits, runtimeWaits uint64
}

// fileEvent is one registered descriptor with Ceph's two callbacks. mask
// is the interest the loop wants, kmask the one in the epoll set (0: not
// in the set); they differ only while a zero mask waits (setInterest).
type fileEvent struct {
	fd    int
	gen   uint32
	mask  uint32
	kmask uint32
	read  func()
	write func()
}

// Event bits as the loop thinks of them; readable includes peer half-close.
const (
	evRead  = unix.EPOLLIN | unix.EPOLLRDHUP
	evWrite = unix.EPOLLOUT
)

func newCenter(executeLimit int) (*center, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	c := &center{
		epfd:   epfd,
		notify: efd,
		events: make([]unix.EpollEvent, maxEventsPerWait),
		base:   time.Now(),
	}
	c.q.Init(executeLimit)
	// A new earliest deadline from another thread must cut a sleep short.
	c.timers.Init(func(int64) { c.wake(c.q.Wake(), nil) })
	doorbell := func() {
		var b [8]byte
		_, _ = unix.Read(efd, b[:])
	}
	if err := c.setInterest(c.createFileEvent(efd, doorbell, nil), unix.EPOLLIN); err != nil {
		c.closeFDs()
		return nil, err
	}
	return c, nil
}

func (c *center) closeFDs() {
	unix.Close(c.notify)
	unix.Close(c.epfd)
}

// createFileEvent records fd with its callbacks; it enters the epoll set
// with the first setInterest that asks for something.
func (c *center) createFileEvent(fd int, read, write func()) *fileEvent {
	for fd >= len(c.files) {
		c.files = append(c.files, make([]*fileEvent, max(len(c.files), 64))...)
	}
	c.gen++
	fe := &fileEvent{fd: fd, gen: c.gen, read: read, write: write}
	c.files[fd] = fe
	return fe
}

// setInterest makes fe's epoll interest mask: ADD, MOD or DEL as needed,
// nothing when it is already so. A zero mask waits, as HAProxy's updates
// do: a socket read to EOF or paused is mostly closed or resumed before
// the kernel reports it again, and then nothing is made. If the kernel
// does report it (level-triggered, and epoll reports EPOLLHUP and EPOLLERR
// even for an empty mask), the loop takes the fd out after that batch.
// proxy-connrate: 2 EPOLL_CTL_DEL per session less.
func (c *center) setInterest(fe *fileEvent, mask uint32) error {
	if fe.mask = mask; mask == 0 || fe.kmask == mask {
		return nil
	}
	return c.apply(fe)
}

func (c *center) apply(fe *fileEvent) error {
	ev := unix.EpollEvent{Events: fe.mask, Fd: int32(fe.fd), Pad: int32(fe.gen)}
	op := unix.EPOLL_CTL_MOD
	switch {
	case fe.kmask == 0:
		op = unix.EPOLL_CTL_ADD
	case fe.mask == 0:
		op = unix.EPOLL_CTL_DEL
	}
	if err := unix.EpollCtl(c.epfd, op, fe.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	fe.kmask = fe.mask
	return nil
}

// deleteFileEvent forgets fe; the caller closes the fd afterwards, which
// takes it out of the epoll set (no fd is dup'ed), so no EPOLL_CTL_DEL:
// HAProxy does not make one per close either.
func (c *center) deleteFileEvent(fe *fileEvent) {
	if c.files[fe.fd] == fe {
		c.files[fe.fd] = nil
	}
	fe.read, fe.write = nil, nil
}

// now is the loop's clock in nanoseconds since base (monotonic).
func (c *center) now() int64 { return int64(time.Since(c.base)) }

// afterFunc schedules fn on the loop after d, from any goroutine; a
// closed owner's timers never run (nil: no owner).
func (c *center) afterFunc(d time.Duration, owner loopkit.Owner, fn func()) *loopkit.Timer {
	return c.timers.Add(owner, c.now()+int64(max(d, 0)), fn)
}

// drainBatch bounds the external events one turn runs (with what they
// post meanwhile) before the loop looks at its sockets again, so a
// function that re-posts itself cannot starve them.
const drainBatch = 1024

// processEvents is one turn of the loop, in Ceph's order: wait (not at all
// if something is queued), file events, due time events, external events.
func (c *center) processEvents() {
	timeout := 0
	// Idle marks the queue asleep before the earliest deadline is read: a
	// post, or a timer added after that read, rings the doorbell.
	sleep := c.q.Idle()
	if sleep {
		timeout = int(maxWait / time.Millisecond)
		if at, ok := c.timers.Next(); ok {
			// epoll_wait counts milliseconds; round up so a timer is never
			// woken for early and then slept on again at 0 ms.
			timeout = min(timeout, max(0, int((at-c.now()+int64(time.Millisecond)-1)/int64(time.Millisecond))))
		}
	}
	n, err := c.epollWait(timeout)
	if sleep {
		c.q.Awake() // posts during this turn need no doorbell
	}
	if err != nil && err != unix.EINTR {
		// Nothing but a bug makes epoll_wait fail on a valid epfd; keep the
		// loop alive rather than strand every connection, but do not spin.
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < n; i++ {
		ev := c.events[i]
		fd := int(ev.Fd) // registered, so within files
		fe := c.files[fd]
		// An earlier callback in this batch may have closed the fd, or
		// closed it and registered a new one under the same number.
		if fe == nil || int32(fe.gen) != ev.Pad {
			continue
		}
		// Ceph maps EPOLLERR and EPOLLHUP to both directions: the read or
		// write attempt that follows reports the real error.
		if fe.mask == 0 {
			c.offs = append(c.offs, fe)
			continue
		}
		bits := ev.Events
		c.bits = bits
		if bits&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			bits |= evRead | evWrite
		}
		if bits&evRead != 0 && fe.mask&evRead != 0 && fe.read != nil {
			fe.read()
		}
		if bits&evWrite != 0 && fe.mask&evWrite != 0 && fe.write != nil && c.files[fd] == fe {
			fe.write()
		}
	}
	c.timers.RunDue(c.now(), nil)
	c.q.Drain(drainBatch, nil)
	// After the external events: a socket read to EOF is mostly closed by
	// one, and its close takes it out (proxy-connrate: 1 DEL less).
	for _, fe := range c.offs {
		if c.files[fe.fd] == fe && fe.mask == 0 && fe.kmask != 0 {
			_ = c.apply(fe) // not closed meanwhile: DEL
		}
	}
	c.offs = c.offs[:0]
}

// post queues one of the engine's own events, after the current callback
// when called on the loop. It fails only once the loop has left.
func (c *center) post(fn func()) error { return c.wake(c.q.Post(fn)) }

// wake rings the doorbell when the queue's handshake says the loop sleeps.
func (c *center) wake(ring bool, err error) error {
	if ring {
		var b [8]byte
		b[0] = 1
		_, _ = unix.Write(c.notify, b[:])
	}
	return err
}

// leave is the loop's last step: everything posted until the queue closes
// still runs (closes, registrations that find the worker stopping, listener
// closes), so nothing accepted is dropped; later posts fail.
func (c *center) leave() {
	for !c.q.CloseIfIdle() {
		c.q.Drain(drainBatch, nil)
	}
	c.timers.Close()
	c.closeFDs()
}
