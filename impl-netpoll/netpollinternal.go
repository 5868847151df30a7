package netpollengine

// This file is the engine's one reach under netpoll's public API; nothing
// else in the package uses reflect or unsafe on netpoll.
//
// Why: the contract's PauseRead must stop reading from the socket (TCP
// backpressure), and netpoll may buffer only so much that the handler has
// not consumed; netpoll v0.7.2 has neither (its poller reads every readable
// connection, in reads that double up to 8 MiB). The one switch that stops
// the reading is the fd's epoll registration, held by the connection's
// FDOperator: an exported type whose exported Control registers and
// deregisters the fd and whose exported Inputs and InputAck hooks the
// poller calls around each read (interest.go uses only those). Two things
// are private:
//   - the operator itself, kept in the unexported field
//     connection.operator (operatorOf reads it; nothing else of the
//     connection is touched);
//   - FDOperator.detached, the counter through which Control lets a single
//     PollDetach through per operator (netpoll resets it only when it
//     recycles the operator). The engine deregisters and registers the fd
//     many times; markRegistered resets the counter after a registration,
//     so that netpoll's own close still deregisters the fd, and detach
//     leaves it spent, so that netpoll's close does not deregister (and
//     log about) an fd the engine already took out. A registration that
//     outlived netpoll's fd would stay in epoll as long as the socket lives
//     (the write side may hold a dup of it) and hand its events to
//     whichever connection reuses the fd number;
//   - FDOperator.state, the busy flag the poller takes (a compare-and-swap
//     from 1 to 2) before it touches an operator for an event and drops
//     after. The hooks are plain func fields the poller reads without a
//     lock; hold takes the flag while they are written. No event can come
//     for the quiet connection they are written on (interest.go) except,
//     in netpoll's race build, a stale one for an earlier fd of the same
//     number; then the poller holds the flag, and the engine takes another
//     eventfd rather than wait.
//
// What it relies on, checked once by New (checkNetpoll) and by
// TestNetpollLayout: the pinned module version; connection.operator is a
// *FDOperator; FDOperator.detached is an int32 that Control(PollDetach)
// increments and that gates the deregistration; FDOperator.state is an
// int32, 1 while the operator is registered and idle.

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"
)

const (
	netpollModule  = "github.com/cloudwego/netpoll"
	netpollVersion = "v0.7.2"
)

var layout struct {
	once                        sync.Once
	err                         error
	detachedOffset, stateOffset uintptr
}

// checkNetpoll fails when the netpoll linked in is not the one this file
// was written against: another version, or another layout of the two
// private fields. It runs once per process (New calls it); the layout of
// the connection type is checked on a throwaway connection over a pipe.
func checkNetpoll() error {
	layout.once.Do(func() { layout.err = findLayout() })
	return layout.err
}

func findLayout() error {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Replace != nil {
				m = m.Replace
			}
			if m.Path == netpollModule && m.Version != netpollVersion {
				return fmt.Errorf("netpoll: engine written against %s %s, linked with %s: re-check netpollinternal.go", netpollModule, netpollVersion, m.Version)
			}
		}
	}
	d, ok := reflect.TypeFor[netpoll.FDOperator]().FieldByName("detached")
	if !ok || d.Type.Kind() != reflect.Int32 {
		return fmt.Errorf("netpoll: FDOperator has no int32 field detached (not %s?)", netpollVersion)
	}
	layout.detachedOffset = d.Offset
	st, ok := reflect.TypeFor[netpoll.FDOperator]().FieldByName("state")
	if !ok || st.Type.Kind() != reflect.Int32 {
		return fmt.Errorf("netpoll: FDOperator has no int32 field state (not %s?)", netpollVersion)
	}
	layout.stateOffset = st.Offset
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("netpoll: layout check: %w", err)
	}
	defer unix.Close(p[1])
	nc, err := netpoll.NewFDConnection(p[0]) // owns p[0] from here
	if err != nil {
		return fmt.Errorf("netpoll: layout check: %w", err)
	}
	defer nc.Close()
	op, err := operatorOf(nc)
	if err != nil {
		return err
	}
	if op.FD != p[0] {
		return fmt.Errorf("netpoll: connection.operator polls fd %d, want %d", op.FD, p[0])
	}
	if !hold(op) {
		return fmt.Errorf("netpoll: a registered, idle operator's state is %d, want %d", atomic.LoadInt32(opState(op)), opIdle)
	}
	unhold(op)
	return nil
}

// operatorOf returns the FDOperator netpoll polls nc's fd with.
func operatorOf(nc netpoll.Connection) (*netpoll.FDOperator, error) {
	v := reflect.ValueOf(nc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("netpoll: connection is %T, want a pointer to a struct", nc)
	}
	f := v.Elem().FieldByName("operator")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*netpoll.FDOperator]() || f.IsNil() {
		return nil, fmt.Errorf("netpoll: %v has no operator *FDOperator field (not %s?)", v.Elem().Type(), netpollVersion)
	}
	return (*netpoll.FDOperator)(f.UnsafePointer()), nil
}

func detachCounter(op *netpoll.FDOperator) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(op), layout.detachedOffset))
}

// detach deregisters op's fd, whatever netpoll's counter says, and leaves
// the counter spent. The error is epoll_ctl's (ENOENT: not registered).
func detach(op *netpoll.FDOperator) error {
	atomic.StoreInt32(detachCounter(op), 0)
	return op.Control(netpoll.PollDetach)
}

// markRegistered resets the counter after the engine registered op's fd
// again (op.Control(netpoll.PollReadable)): netpoll's own detach, when it
// closes the connection, must deregister it.
func markRegistered(op *netpoll.FDOperator) {
	atomic.StoreInt32(detachCounter(op), 0)
}

// detachedSince reports whether op.Control(netpoll.PollDetach) ran since
// the last markRegistered: netpoll's own detach, which counts itself
// before its epoll_ctl and deregistered the fd by the time its close
// callbacks run.
func detachedSince(op *netpoll.FDOperator) bool {
	return atomic.LoadInt32(detachCounter(op)) > 0
}

// Operator states (FDOperator.state).
const (
	opIdle = 1 // registered, no poller on it
	opBusy = 2 // a poller (or netpoll's Release) is working on it
)

func opState(op *netpoll.FDOperator) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(op), layout.stateOffset))
}

// hold takes op's busy flag, as the poller does before it handles an
// event: while held, the poller skips op's events (level-triggered epoll
// reports them again). It fails, without waiting, when the flag is taken.
func hold(op *netpoll.FDOperator) bool {
	return atomic.CompareAndSwapInt32(opState(op), opIdle, opBusy)
}

func unhold(op *netpoll.FDOperator) { atomic.StoreInt32(opState(op), opIdle) }
