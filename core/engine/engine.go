// Package engine is the contract between protocol logic (the messenger and the
// proxy in core) and an I/O model (goroutine-per-connection, epoll, gnet,
// netpoll, DPDK). Protocol code sees only these interfaces; an engine module
// implements them and nothing else.
//
// The model is Ceph's NetworkStack/Worker/EventCenter: every Conn belongs to
// one loop, and every callback for that Conn runs on that loop, one at a time.
// Protocol state reached only from callbacks therefore needs no lock.
//
// The full semantics, with the reasons behind them, are in spec/engine.md.
//
// # Choosing an engine
//
// Code written on this contract (the messenger, the proxy, a protocol of
// your own, see Example) takes an Engine and never names one. The program
// picks it: every engine module has the constructor
// New(Config) (Engine, error), so switching is one line:
//
//	eng, err := goroutine.New(engine.Config{Workers: 4}) // github.com/netmodels/netmodels/impl-goroutine
//	defer eng.Shutdown(ctx)
//	l, err := eng.Listen("127.0.0.1:7000", newHandler)
//
// impl-goroutine (net.TCPConn, a goroutine per connection) is the simplest;
// impl-rawepoll (Ceph-style epoll workers), impl-gnet and impl-netpoll are
// event-loop engines; impl-dpdk (build tag dpdk) runs on DPDK with a
// userspace TCP stack. Config.Workers is the number of loops where the
// engine has threads. README.md compares them and lists what each cannot
// do (the engine kit, core/engine/enginetest, declares it per engine).
// core/engine/memengine is the deterministic in-memory engine for tests.
package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Engine listens, dials and owns the loops that run connection callbacks.
type Engine interface {
	// Name is the engine's short name, as in bin/<name>.
	Name() string

	// Listen binds addr ("host:port"; port 0 picks a free one) and accepts
	// connections until the Listener or the Engine is closed. For every
	// accepted connection the engine calls newHandler on the connection's
	// loop, then the handler's OnOpen.
	Listen(addr string, newHandler func(Conn) Handler) (Listener, error)

	// Dial starts a connection to addr and returns at once: the result is
	// reported on the connection's loop, by h.OnOpen on success or by
	// h.OnClose with a non-nil error (a *net.OpError with Op "dial") on
	// failure. Writes, Execute and AfterFunc may be used before the dial
	// completes; queued bytes are sent once connected. Dial returns an error
	// itself only when it cannot even start (engine closed, address
	// unparsable).
	Dial(addr string, h Handler, opts DialOptions) (Conn, error)

	// Shutdown stops accepting, closes every listener and connection
	// (each open connection gets OnClose with ErrEngineClosed) and waits for
	// the engine's goroutines and threads to finish, or for ctx to end.
	// It must not be called from a callback. It is idempotent; afterwards
	// Listen and Dial return errors wrapping ErrEngineClosed. A nil result
	// means nothing the engine started is still running.
	Shutdown(ctx context.Context) error
}

// DialOptions tune one Dial.
type DialOptions struct {
	// Timeout bounds the TCP connect; zero means the engine's default (30 s).
	Timeout time.Duration
	// Near asks that the new connection live on the same loop as Near, so a
	// proxy's two legs can share state without locks. Engines that cannot
	// place a connection on a chosen loop still guarantee that callbacks of
	// Near and of the new connection never run at the same time (see
	// spec/engine.md, "Loop affinity"). A Near from another engine is
	// ignored.
	Near Conn
}

// Listener is a bound, accepting socket.
type Listener interface {
	// Addr is the real bound address (useful after binding port 0).
	Addr() net.Addr
	// Close stops accepting. Connections already accepted stay open.
	Close() error
	// Pause stops accepting without closing: from its return on, the
	// engine makes no accept call on the listener (one already under way
	// may still hand over its connection), and clients that connect wait
	// in the listening socket's backlog, as HAProxy leaves them when a
	// frontend is full (listener_full). Resume accepts again, the clients
	// waiting in the backlog first. Both are idempotent, cheap, callable
	// from any goroutine and callback, and do nothing after Close. The
	// backlog is what the engine passes to listen(2) (spec/engine.md,
	// "Pausing a listener"); beyond it the kernel drops SYNs and the
	// clients retransmit them.
	Pause()
	Resume()
	// SetBudget puts the listener under b (nil: none, the default) from
	// its next accept on: the engine takes a unit for every connection it
	// hands over and accepts nothing while b has none left (AcceptBudget).
	// The owner sets it right after Listen; connections accepted before
	// took nothing. Call it once per listener.
	SetBudget(b *AcceptBudget)
}

// Handler receives the events of one connection. All methods run on the
// connection's loop and never concurrently with each other or with another
// callback of a connection Near it. Handlers must not block: a handler that
// must wait uses PauseRead, AfterFunc or Execute.
type Handler interface {
	// OnOpen is the first callback: the connection is established. A dial
	// that fails, or a connection closed before it connects, gets no
	// OnOpen, only OnClose.
	OnOpen(c Conn)

	// OnData delivers received bytes. in holds every byte received and not
	// yet consumed; it is valid only until OnData returns. The handler
	// returns how many bytes from the front it consumed; the rest stay
	// buffered and come back, with newer bytes appended, in the next OnData
	// (Ceph's read_until). After a partial consumption (0 < consumed <
	// len(in)) the engine calls OnData again at once with the rest, until
	// the handler consumes all or nothing, reading is paused or the
	// connection closes; after consumed == 0 it waits for more bytes.
	// OnData is never called with an empty in. A handler must consume
	// something once len(in) reaches Config.ReadBufferSize; otherwise the
	// engine closes the connection with ErrReadBufferFull. A count below
	// zero or above len(in) is a handler bug: the engine consumes nothing
	// and closes the connection with an error wrapping ErrConsumedRange
	// (every engine through CheckConsumed).
	OnData(c Conn, in []byte) (consumed int)

	// OnReadEOF reports that the peer shut its write side (shutr on our
	// side). No OnData follows. The write side stays usable: this is how a
	// half-closed connection keeps sending the other way. The engine never
	// closes a connection on its own because both directions are shut;
	// the handler calls Close (BaseHandler does so on read EOF).
	OnReadEOF(c Conn)

	// OnDrained reports that the out-queue, having risen above
	// Config.OutQueueHighWater, has fallen to Config.OutQueueLowWater or
	// below. It fires once per such crossing. A Write or Writev refused
	// with ErrOutQueueFull also makes an OnDrained owed: it comes once the
	// queue is at or below low water (right after the current callback if
	// it already is). When it runs, OutQueued() <= OutQueueLowWater.
	OnDrained(c Conn)

	// OnClose is the last callback, exactly once. err is nil after a local
	// Close, ErrEngineClosed on Shutdown, and otherwise says why the
	// connection ended (a dial error, a reset, a failed write). No Execute,
	// timer or Splice done function of the connection runs after it.
	OnClose(c Conn, err error)
}

// Conn is one TCP connection. Methods may be called from any goroutine
// unless noted; their effects are ordered as the calls are.
type Conn interface {
	// LocalAddr and RemoteAddr are valid from OnOpen on; before a dialed
	// connection is established they may be nil.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr

	// Write queues a copy of b for sending. It never blocks. If the bytes
	// would take the out-queue past Config.OutQueueLimit, nothing is queued
	// and Write returns ErrOutQueueFull: the writer must wait for OnDrained.
	// A write larger than OutQueueLimit can never succeed: split it.
	// After CloseWrite or Close it returns ErrClosed. Bytes written before
	// a dial completes are sent once connected.
	Write(b []byte) error

	// Writev queues bufs for one vectored write, taking ownership: the
	// caller must not modify the slices afterwards. Limits as for Write
	// (all or nothing).
	Writev(bufs [][]byte) error

	// OutQueued is the number of bytes queued and not yet handed to the
	// kernel (or to the userspace stack). Once it is 0 the engine holds no
	// reference to the slices given to Writev: the caller may reuse them
	// (core/msgr returns its batch buffer to its pool then).
	OutQueued() int

	// CloseWrite sends FIN after everything queued so far (shutw). Reading
	// continues until the peer's EOF. Idempotent; ErrClosed after Close.
	CloseWrite() error

	// Close closes both directions now. Queued bytes not yet sent are
	// discarded. OnClose(c, nil) follows on the loop. Idempotent.
	Close() error

	// PauseRead stops OnData deliveries (and reading from the socket, so the
	// peer sees TCP backpressure) until ResumeRead. Bytes already buffered
	// stay buffered; a read already in progress may complete into the
	// buffer (at most ReadBufferSize bytes). Called inside OnData it takes
	// effect when OnData returns. Both are idempotent and cheap; call them
	// from the loop.
	PauseRead()
	// ResumeRead restarts deliveries; buffered bytes are delivered first,
	// and a read EOF that arrived while paused is reported after them.
	ResumeRead()

	// Execute runs fn on the connection's loop, after Execute returns or, if
	// called from the loop itself, after the current callback. Functions
	// run in the order they were submitted. It fails with ErrExecuteQueueFull
	// when the loop's queue (Config.ExecuteQueueLimit) is full and with
	// ErrClosed once OnClose has run (engines may refuse from the moment
	// the connection starts closing). Functions accepted before Close run
	// before OnClose; one racing a concurrent close may be dropped, but
	// none runs after OnClose. It never runs fn inline, so it cannot
	// deadlock when called from a callback.
	Execute(fn func()) error

	// AfterFunc runs fn on the connection's loop after d, unless stopped or
	// the connection closed first. Timers with earlier deadlines fire first;
	// equal deadlines fire in creation order.
	AfterFunc(d time.Duration, fn func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents fn from running if it has not started. It reports
	// whether it stopped it. Called on the loop, a true result guarantees
	// fn will not run.
	Stop() bool
}

// Config is common to all engines. Zero fields take the defaults below.
type Config struct {
	// Workers is the number of loops (worker threads). Default: number of
	// CPUs. Engines without worker threads (goroutine, in-memory) ignore it.
	Workers int
	// ReadBufferSize is the most bytes held unconsumed per connection and
	// the size of one read. Default 64 KiB.
	ReadBufferSize int
	// OutQueueLimit bounds each connection's out-queue. Default 4 MiB.
	OutQueueLimit int
	// OutQueueHighWater and OutQueueLowWater drive OnDrained. Defaults:
	// 1 MiB and 256 KiB.
	OutQueueHighWater int
	OutQueueLowWater  int
	// ExecuteQueueLimit bounds pending Execute functions per loop. Default 65536.
	ExecuteQueueLimit int
	// Nagle turns Nagle's algorithm on: TCP_NODELAY is cleared on every
	// socket, so small writes may wait to be coalesced. Default false:
	// TCP_NODELAY is set, as Ceph (ms_tcp_nodelay) and HAProxy do.
	Nagle bool
}

// Defaults for Config.
const (
	DefaultReadBufferSize    = 64 << 10
	DefaultOutQueueLimit     = 4 << 20
	DefaultOutQueueHighWater = 1 << 20
	DefaultOutQueueLowWater  = 256 << 10
	DefaultExecuteQueueLimit = 1 << 16
	DefaultDialTimeout       = 30 * time.Second
	MinReadBufferSize        = 4 << 10
)

// WithDefaults returns cfg with zero fields set to their defaults and
// inconsistent marks corrected (low ≤ high ≤ limit).
func (cfg Config) WithDefaults(cpus int) Config {
	if cfg.Workers <= 0 {
		cfg.Workers = max(cpus, 1)
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	cfg.ReadBufferSize = max(cfg.ReadBufferSize, MinReadBufferSize)
	if cfg.OutQueueLimit <= 0 {
		cfg.OutQueueLimit = DefaultOutQueueLimit
	}
	if cfg.OutQueueHighWater <= 0 {
		cfg.OutQueueHighWater = min(DefaultOutQueueHighWater, cfg.OutQueueLimit)
	}
	if cfg.OutQueueLowWater <= 0 {
		cfg.OutQueueLowWater = min(DefaultOutQueueLowWater, cfg.OutQueueHighWater/2)
	}
	cfg.OutQueueHighWater = min(cfg.OutQueueHighWater, cfg.OutQueueLimit)
	cfg.OutQueueLowWater = min(cfg.OutQueueLowWater, cfg.OutQueueHighWater)
	if cfg.ExecuteQueueLimit <= 0 {
		cfg.ExecuteQueueLimit = DefaultExecuteQueueLimit
	}
	return cfg
}

// Errors shared by all engines; match them with errors.Is.
var (
	ErrClosed           = errors.New("engine: connection closed")
	ErrEngineClosed     = errors.New("engine: engine shut down")
	ErrOutQueueFull     = errors.New("engine: out-queue limit reached")
	ErrExecuteQueueFull = errors.New("engine: execute queue full")
	ErrReadBufferFull   = errors.New("engine: read buffer full and handler consumed nothing")
	ErrConsumedRange    = errors.New("engine: OnData consumed outside [0, len(in)]")
)

// CheckConsumed is what every engine does with OnData's result: nil for
// 0 <= n <= size, otherwise an error wrapping ErrConsumedRange with both
// counts, with which the engine closes the connection having consumed
// nothing. Clamping instead would hide the bug and, for a count above
// len(in), silently drop bytes the handler never saw.
func CheckConsumed(n, size int) error {
	if n >= 0 && n <= size {
		return nil
	}
	return fmt.Errorf("%w: handler reported %d of %d bytes", ErrConsumedRange, n, size)
}

// Splicer is an optional Conn capability: relay bytes from this connection
// to dst inside the kernel (splice(2)) or at least without passing them
// through a handler. The proxy uses it when nothing needs rewriting.
//
// While a splice runs, OnData is not called for the source; when the source
// reaches EOF or an error, or after limit bytes (limit < 0: no limit), done
// runs on the source's loop with the count and the reason (nil for EOF).
// The destination's CloseWrite is left to the caller.
//
// Ordering (spec/engine.md, "Splicer"): bytes already queued on dst go out
// first, then source bytes received but not consumed by OnData, then the
// relayed stream; writes to dst during the splice are queued behind it.
// After EOF no OnReadEOF follows; after the limit or an error, OnData
// deliveries resume. done never runs after the source's OnClose. A dst
// from another engine yields an error matching errors.ErrUnsupported.
type Splicer interface {
	Splice(dst Conn, limit int64, done func(n int64, err error)) error
}

// Aborter is implemented by connections that can end with a TCP reset
// instead of a FIN (SO_LINGER 0 then close): the proxy's "silent-drop"
// uses it so that a dropped client is not told of an orderly end. The
// proxy falls back to Close on connections without it.
//
// Abort is Close (queued bytes discarded, OnClose(c, nil) follows on the
// loop) except that the kernel sends RST rather than FIN. After Close or
// a previous Abort it does nothing.
type Aborter interface {
	Abort() error
}

// BaseHandler has no-op methods; embed it to implement only what you need.
type BaseHandler struct{}

func (BaseHandler) OnOpen(Conn)                  {}
func (BaseHandler) OnData(_ Conn, in []byte) int { return len(in) }
func (BaseHandler) OnReadEOF(c Conn)             { _ = c.Close() }
func (BaseHandler) OnDrained(Conn)               {}
func (BaseHandler) OnClose(Conn, error)          {}
