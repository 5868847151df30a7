package netpollengine

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"
)

// netpoll v0.7.2 has no read throttling and no read-ahead bound: its
// poller reads every readable connection into the connection's LinkBuffer
// for as long as the fd is registered with EPOLLIN, however much is already
// buffered, in reads that double up to 8 MiB. The only switch that stops
// the reading is the fd's epoll registration, held by the connection's
// FDOperator (netpollinternal.go says how it is reached). The engine wraps
// the operator's Inputs and InputAck hooks, which the poller calls around
// each read:
//   - Inputs, so that one read is at most ReadBufferSize (the contract's
//     size of one read);
//   - InputAck, so that right after a read the poller itself takes the fd
//     out of epoll when reads are paused or more than readAheadLimit bytes
//     wait unconsumed (pollerStop).
// The processing task, and ResumeRead, register the fd again once reads
// are resumed and the handler has caught up (resume). While deregistered
// the poller does not read, the kernel's receive buffer fills and TCP's
// window closes on the peer: real backpressure. netpoll's buffer holds at
// most readAheadLimit plus one read, and a pause lets at most one read
// complete, as the contract says. The exception is netpoll's hang-up path:
// when the peer's FIN arrives netpoll reads the socket to EOF in one go,
// ignoring the registration (at most the kernel's receive buffer).

// quietConnection makes a netpoll connection over a fresh eventfd, which
// raises no epoll event while nobody writes to it. NewFDConnection
// registers its fd with a poller at once, and the poller reads the
// operator's hook fields without a lock; over a quiet fd the hooks and
// callbacks can be installed before the socket takes the eventfd's place
// (plug). An eventfd is one descriptor and one system call (a pipe was
// three: pipe2 and the close of its write end after plug), and nothing
// else holds it, so dup3 closing it takes its registration out of epoll.
// netpoll's race build can still hand the quiet connection a stale event
// of an earlier fd with the same number (see onNetpollClose): install
// holds the operator's busy flag against it, and a hang-up it brings
// closes the quiet connection, which plug notices; either way attach
// takes another eventfd. fd is an eventfd from quietFD made beforehand
// (the accept path's descriptor probe), or -1: one is made here.
func quietConnection(fd int) (nc netpoll.Connection, op *netpoll.FDOperator, err error) {
	if fd < 0 {
		if fd, err = quietFD(); err != nil {
			return nil, nil, err
		}
	}
	offerSmallBarrier()
	nc, err = netpoll.NewFDConnection(fd) // owns fd from here
	if err != nil {
		return nil, nil, err
	}
	if op, err = operatorOf(nc); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	shrinkOutputBarrier(nc)
	return nc, op, nil
}

// quietFD makes the eventfd of a quiet connection.
func quietFD() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, os.NewSyscallError("eventfd", err)
	}
	return fd, nil
}

// errClosedEarly: netpoll closed the quiet connection before the socket
// was in place, or its poller held it when install wanted it. Only a stale
// event does that (netpoll's race build hands
// an event of a closed fd to whichever connection reuses the number; see
// onNetpollClose); the caller takes a fresh eventfd.
var errClosedEarly = errors.New("netpoll closed the connection before the socket was in place")

// plug puts the socket (raw) in place of the quiet connection's eventfd,
// under the same fd number (dup3 closes the eventfd, which leaves epoll
// with it), unless netpoll has closed the connection meanwhile: then the
// number may already belong to something else. The fd is registered by
// resume.
func (ri *readInterest) plug(raw syscall.RawConn) error {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.closed {
		return errClosedEarly
	}
	var derr error
	if err := raw.Control(func(fd uintptr) { derr = unix.Dup3(int(fd), ri.op.FD, unix.O_CLOEXEC) }); err != nil {
		return err
	}
	if derr != nil {
		return os.NewSyscallError("dup3", derr)
	}
	ri.live = true
	return nil
}

// readInterest switches the poller's reading of one netpoll connection on
// and off. Three parties meet here: the poller (pollerStop, after each
// read), resume (the processing task, or ResumeRead on any goroutine) and
// release (netpoll's close callback). They decide under mu, but resume
// registers the fd outside it (arming): registering waits for the poller to
// finish the event it may be handling for this fd, and that event may call
// pollerStop. A pollerStop during arming cannot tell whether the
// registration is in yet, so it deregisters anyway; resume, once its
// registration is in, makes sure the fd is out again and looks at the
// reason afresh. So the poller never reads past the bound, even while
// resume is descheduled.
type readInterest struct {
	op       *netpoll.FDOperator
	wantStop func() bool // reads paused, or the read-ahead bound passed

	mu   sync.Mutex
	cond sync.Cond // on mu: release waits for arming to end
	// off: the engine took the fd out of epoll; it stays out until resume.
	off bool
	// arming: resume is registering the fd outside mu; stopped: the poller
	// deregistered meanwhile.
	arming, stopped bool
	closed          bool // netpoll is closing the fd: never register it again
	live            bool // plug put the socket in place
}

// install wraps op's hooks, on a quiet connection, holding op's busy flag
// so that no poller reads them meanwhile; it fails (errClosedEarly) if a
// poller holds the flag. The socket is not in epoll until resume
// registers it.
func (ri *readInterest) install(op *netpoll.FDOperator, maxRead int, wantStop func() bool) error {
	if !hold(op) {
		return errClosedEarly
	}
	defer unhold(op)
	ri.op, ri.wantStop, ri.off = op, wantStop, true
	ri.cond.L = &ri.mu
	inputs, inputAck := op.Inputs, op.InputAck
	op.Inputs = func(vs [][]byte) [][]byte {
		rs := inputs(vs)
		if len(rs) > 0 && len(rs[0]) > maxRead {
			rs[0] = rs[0][:maxRead] // netpoll acks what was read, not what was booked
		}
		return rs
	}
	op.InputAck = func(n int) error {
		err := inputAck(n)
		if wantStop() {
			ri.pollerStop()
		}
		return err
	}
	return nil
}

// pollerStop deregisters the fd; it runs on the poller, right after a read.
func (ri *readInterest) pollerStop() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.closed || !ri.wantStop() { // the handler caught up since the read
		return
	}
	if ri.arming {
		ri.stopped = true
		_ = detach(ri.op) // ENOENT if resume's registration is not in yet
		return
	}
	if !ri.off {
		_ = detach(ri.op)
		ri.off = true
	}
}

// resume registers the fd again if the engine took it out and nothing
// wants it out any more. The fd cannot be closed meanwhile: netpoll closes
// it only after release, which waits for arming to end.
func (ri *readInterest) resume() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if !ri.off || ri.arming || ri.closed || !ri.live {
		return
	}
	for !ri.wantStop() {
		ri.arming, ri.stopped = true, false
		ri.mu.Unlock()
		err := ri.op.Control(netpoll.PollReadable)
		ri.mu.Lock()
		ri.arming = false
		ri.cond.Broadcast()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return // the socket is gone; netpoll's close follows
		}
		if ri.stopped {
			// The poller read meanwhile and took it out, perhaps before
			// the registration got in: make sure it is out, then look at
			// the reason again.
			_ = detach(ri.op)
			continue
		}
		markRegistered(ri.op)
		ri.off = false
		return
	}
}

// release runs when netpoll closes the connection (its close callback,
// before netpoll closes its fd): no registration may outlive the fd.
// netpoll deregisters the fd before it runs the close callbacks, but its
// detach may have run while resume registered, missing the registration
// (markRegistered then made the counter new again); so release removes
// the registration unless netpoll's own detach came after it
// (detachedSince), which spares an epoll_ctl that would fail with ENOENT
// on every close. netpoll counts its detach before it makes the call, so
// a poller's hang-up detach may still be on its way when a local close
// runs release; the engine's close therefore closes the TCPConn (or the
// write side's fallback dup) first
// (conn.closeLocked), and netpoll's fd, the socket's last, takes any
// registration left with it. It reports whether the socket was in place.
func (ri *readInterest) release() (live bool) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	for ri.arming {
		ri.cond.Wait()
	}
	ri.closed = true
	if !ri.off {
		if !detachedSince(ri.op) {
			_ = detach(ri.op)
		}
		ri.off = true
	}
	return ri.live
}
