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
//   - connection.outputBarrier, the scratch (32 slices and 32 iovecs,
//     1.3 KB) that netpoll's own writer gathers its output buffer into.
//     netpoll takes one from its pool for every connection and keeps it
//     for the connection's life, but the engine never writes through
//     netpoll (writer.go), so an idle session held 2.7 KB of scratch no
//     code ever reads. A connection now gets a one-slice barrier (96
//     bytes): a smaller scratch is still a correct one (netpoll's flush
//     gathers len(bs) slices at most, and the poller writes the rest
//     through its own), so whichever connection netpoll's pool hands it
//     to after a close, the engine's or not, still writes everything
//     (TestSmallBarrier). One is offered to netpoll's pool (barrierPool,
//     reached by linkname: a renamed pool fails the build, not the run)
//     just before each NewFDConnection, whose Get takes it instead of
//     making a 1.3 KB one (garbage that an idle proxy-idle session paid
//     for in RSS until the next collection), and shrinkOutputBarrier
//     swaps one in where the Get missed (an offer another goroutine
//     took). An empty barrier would not do: flush would index its
//     missing iovecs;
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
// *FDOperator; connection.outputBarrier points to a struct of exactly
// bs [][]byte and ivs []syscall.Iovec; FDOperator.detached is an int32 that Control(PollDetach)
// increments and that gates the deregistration; FDOperator.state is an
// int32, 1 while the operator is registered and idle.

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
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
	barrierOffset               uintptr      // connection.outputBarrier
	barrierType                 reflect.Type // netpoll's barrier
}

//go:linkname barrierPool github.com/cloudwego/netpoll.barrierPool
var barrierPool sync.Pool

// barrierLayout is netpoll's private barrier type, field for field
// (checked by checkBarrier, which also records the type).
type barrierLayout struct {
	bs  [][]byte
	ivs []syscall.Iovec
}

// smallBarrier is a barrier of one slice and one iovec, in one
// allocation.
type smallBarrier struct {
	barrierLayout
	b  [1][]byte
	iv [1]syscall.Iovec
}

func newSmallBarrier() *barrierLayout {
	sb := new(smallBarrier)
	sb.bs, sb.ivs = sb.b[:], sb.iv[:]
	return &sb.barrierLayout
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
	if err := checkBarrier(nc); err != nil {
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

// checkBarrier checks that nc's outputBarrier field is a pointer to a
// struct laid out as barrierLayout.
func checkBarrier(nc netpoll.Connection) error {
	f, ok := reflect.TypeOf(nc).Elem().FieldByName("outputBarrier")
	want := reflect.TypeFor[barrierLayout]()
	if !ok || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("netpoll: connection has no outputBarrier pointer field (not %s?)", netpollVersion)
	}
	bt := f.Type.Elem()
	if bt.Size() != want.Size() || bt.NumField() != want.NumField() {
		return fmt.Errorf("netpoll: outputBarrier is a %v, not laid out as {bs, ivs} (not %s?)", bt, netpollVersion)
	}
	for i := range want.NumField() {
		g, w := bt.Field(i), want.Field(i)
		if g.Name != w.Name || g.Type != w.Type || g.Offset != w.Offset {
			return fmt.Errorf("netpoll: outputBarrier field %d is %s %v, want %s %v (not %s?)", i, g.Name, g.Type, w.Name, w.Type, netpollVersion)
		}
	}
	layout.barrierOffset, layout.barrierType = f.Offset, bt
	return nil
}

// offerSmallBarrier puts a small barrier in netpoll's pool, as netpoll's
// own *barrier type, for the NewFDConnection about to run (see the file
// comment). Only after checkNetpoll succeeded.
func offerSmallBarrier() {
	barrierPool.Put(reflect.NewAt(layout.barrierType, unsafe.Pointer(newSmallBarrier())).Interface())
}

// outputBarrier is nc's outputBarrier field.
func outputBarrier(nc netpoll.Connection) **barrierLayout {
	return (**barrierLayout)(unsafe.Add(reflect.ValueOf(nc).UnsafePointer(), layout.barrierOffset))
}

// shrinkOutputBarrier gives nc a small barrier if its Get missed the
// offer. Call it before nc is shared.
func shrinkOutputBarrier(nc netpoll.Connection) {
	if p := outputBarrier(nc); len((*p).bs) > 1 {
		*p = newSmallBarrier()
	}
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
