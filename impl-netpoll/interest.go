package netpollengine

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// netpoll v0.7.2 has no read throttling and no read-ahead bound: its
// poller reads every readable connection into the connection's LinkBuffer
// for as long as the fd is registered with EPOLLIN, however much is already
// buffered, in reads that double up to 8 MiB. The only switch that stops
// the reading is the fd's epoll registration, held by the connection's
// FDOperator (an exported type, with an exported Control method and
// exported Inputs/InputAck hooks that the poller calls around each read),
// which the connection keeps in an unexported field.
//
// The engine therefore reaches that operator and wraps both hooks:
//   - Inputs, so that one poller read is at most ReadBufferSize (the
//     contract's size of one read; netpoll's own policy doubles it up to
//     8 MiB);
//   - InputAck, so that right after a read the poller itself takes the fd
//     out of epoll (Control(PollDetach)) when reads are paused or more than
//     readAheadLimit bytes wait unconsumed.
// The processing task registers the fd again (Control(PollReadable)) once
// reads are resumed and the handler has caught up. While deregistered the
// poller does not read, the kernel's receive buffer fills and TCP's window
// closes on the peer: real backpressure. netpoll's buffer holds at most
// readAheadLimit plus one read, and a pause lets at most one read
// (ReadBufferSize) complete, as the contract says.
//
// Only the poller deregisters, and only while handling an event of the
// current registration, so a deregistration never meets a stale event;
// only the processing task registers. Both decide under mu, holding it for
// a few instructions; the poller re-checks its reason under mu (the task
// may have caught up meanwhile), and the task marks the fd registered
// before registering it, so that the poller's next event finds the mark.
// FDOperator.Control lets PollDetach through once per registration (an
// unexported counter, so that netpoll's own close paths may race without
// double-deleting); registering resets it. Registering happens only on the
// processing task, which holds netpoll's processing lock: netpoll closes
// the fd only under that lock, so the fd cannot be closed and reused under
// us.
//
// The hooks are installed while holding the operator's busy state (the
// same compare-and-swap the poller takes before touching an operator), so
// the poller never reads a hook field while it is written.
//
// The unexported fields are looked up by name at the first connection, so
// a netpoll release that renames them fails that connection instead of
// corrupting memory. The module pins netpoll v0.7.2.

var (
	operatorOffset, detachedOffset, stateOffset uintptr
	layoutOnce                                  sync.Once
	errLayout                                   error
)

func checkLayout(nc netpoll.Connection) error {
	layoutOnce.Do(func() { errLayout = findLayout(reflect.TypeOf(nc)) })
	return errLayout
}

func findLayout(ct reflect.Type) error {
	if ct.Kind() != reflect.Pointer || ct.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("netpoll: connection is %v, want a pointer to a struct", ct)
	}
	f, ok := ct.Elem().FieldByName("operator")
	if !ok || f.Type != reflect.TypeOf((*netpoll.FDOperator)(nil)) {
		return fmt.Errorf("netpoll: %v has no operator *FDOperator field (not v0.7.2?)", ct.Elem())
	}
	operatorOffset = f.Offset
	op := reflect.TypeOf(netpoll.FDOperator{})
	d, ok := op.FieldByName("detached")
	if !ok || d.Type.Kind() != reflect.Int32 {
		return errors.New("netpoll: FDOperator has no detached int32 field (not v0.7.2?)")
	}
	detachedOffset = d.Offset
	s, ok := op.FieldByName("state")
	if !ok || s.Type.Kind() != reflect.Int32 {
		return errors.New("netpoll: FDOperator has no state int32 field (not v0.7.2?)")
	}
	stateOffset = s.Offset
	return nil
}

// operatorOf returns the FDOperator netpoll polls c's fd with.
func operatorOf(nc netpoll.Connection) *netpoll.FDOperator {
	p := reflect.ValueOf(nc).UnsafePointer()
	return *(**netpoll.FDOperator)(unsafe.Add(p, operatorOffset))
}

func opInt32(op *netpoll.FDOperator, off uintptr) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(op), off))
}

// Operator states (netpoll's FDOperator.state).
const (
	opInUse = 1 // registered, idle
	opBusy  = 2 // a poller (or netpoll's Release) is working on it
)

// readInterest switches the poller's reading of one connection on and off.
type readInterest struct {
	op       *netpoll.FDOperator
	wantStop func() bool // reads paused, or the read-ahead bound passed

	mu       sync.Mutex
	detached bool // out of epoll (set after the poller's PollDetach)
	rearmed  bool // the task registered it again at least once
}

// hook installs the read-size cap and the post-read check.
func (ri *readInterest) hook(op *netpoll.FDOperator, maxRead int, wantStop func() bool) {
	ri.wantStop = wantStop
	state := opInt32(op, stateOffset)
	for !atomic.CompareAndSwapInt32(state, opInUse, opBusy) {
		if atomic.LoadInt32(state) != opBusy {
			return // freed: netpoll already closed the connection
		}
		runtime.Gosched() // the poller is reading; it finishes at once
	}
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
	ri.op = op
	atomic.StoreInt32(state, opInUse)
}

// pollerStop deregisters the fd; it runs on the poller, inside the
// handling of an event of the current registration.
func (ri *readInterest) pollerStop() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.detached || !ri.wantStop() {
		return // the task caught up since the read
	}
	_ = ri.op.Control(netpoll.PollDetach)
	ri.detached = true
}

// start registers the fd again, unless netpoll has begun closing the
// connection (then it must stay deregistered: netpoll will not remove it
// again, and the engine's TCPConn would keep a stale registration alive).
// Processing task only.
func (ri *readInterest) start(active bool) {
	if ri.op == nil || !active {
		return
	}
	ri.mu.Lock()
	if !ri.detached {
		ri.mu.Unlock()
		return
	}
	ri.detached = false
	ri.rearmed = true
	atomic.StoreInt32(opInt32(ri.op, detachedOffset), 0)
	ri.mu.Unlock()
	// Outside mu: registering waits for the poller to leave the operator,
	// and the poller may be waiting for mu.
	_ = ri.op.Control(netpoll.PollReadable)
}

// release runs when netpoll closes its side (its close callback, under the
// processing lock): if the task re-registered the fd, netpoll's own detach
// may already have been spent, so deregister once more (ENOENT when it is
// already gone is harmless) before netpoll closes its fd.
func (ri *readInterest) release() {
	if ri.op == nil {
		return
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.detached || !ri.rearmed {
		return
	}
	ri.detached = true
	atomic.StoreInt32(opInt32(ri.op, detachedOffset), 0)
	_ = ri.op.Control(netpoll.PollDetach)
}
