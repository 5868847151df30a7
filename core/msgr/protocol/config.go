package protocol

import (
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/clock"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Clock gives time and timers that are not tied to a connection (reconnect
// back-off runs while a session has no socket). memengine.FakeClock
// satisfies it, so tests control back-off exactly.
type Clock = clock.Clock

// RealClock is the wall clock.
var RealClock = clock.Real

// Hooks is what an Endpoint reports to its messenger. Every method runs on
// a connection's loop and must not block (queue the work instead). No lock
// of the protocol package is held during a call, so a hook may call back
// into the session and the endpoint (SendMessage, MarkDown, Connect,
// Sessions); see the lock order in the package doc.
type Hooks interface {
	// Deliver hands over a received message; the receiver calls m.Release
	// when done with it. Calls for one session never overlap and come in
	// seq order, even across a replace that moves the session to a socket
	// on another loop (so a reply sent from Deliver keeps the order). After
	// such a replace, messages read by the new socket may be delivered on
	// the old socket's loop, by the call still running there.
	Deliver(m *Message)
	SessionEvents
}

// Config configures an Endpoint. Zero fields take the defaults noted.
type Config struct {
	Name  wire.EntityName
	Nonce uint32 // 0 is valid (monitors use 0)

	// DefaultPolicy applies to peer types without an entry in Policies.
	DefaultPolicy Policy
	Policies      map[wire.EntityType]Policy

	CRC wire.CRCMode

	// MaxMessageBytes bounds front+middle+data of a received message,
	// checked on the header before anything is allocated. Default 128 MiB.
	MaxMessageBytes uint64
	// DispatchThrottleBytes and DispatchThrottleMessages bound what is held
	// by received, undispatched messages across the endpoint (Ceph's
	// ms_dispatch_throttle_bytes). Defaults 100 MiB and 65536.
	DispatchThrottleBytes    int64
	DispatchThrottleMessages int64
	// MaxOutQueueBytes bounds, per session, the payload bytes queued plus
	// sent-and-unacked; SendMessage fails with ErrOutQueueFull at the limit
	// (one message larger than the limit is accepted when the queue is
	// empty). Default 64 MiB. MaxOutQueueMessages likewise, default 65536.
	MaxOutQueueBytes    int64
	MaxOutQueueMessages int
	// WriteBatchBytes is the most bytes handed to one Writev; it must be
	// well below the engine's OutQueueLimit − OutQueueHighWater so a full
	// out-queue is always above high water (and OnDrained follows).
	// Default 256 KiB.
	WriteBatchBytes int

	// HandshakeTimeout: a socket that has not reached OPENED within it
	// faults (Ceph's ms_connection_ready_timeout, connector side; we apply
	// it to acceptors too so a silent peer cannot hold a socket). Default 10 s.
	HandshakeTimeout time.Duration
	// InitialBackoff and MaxBackoff: reconnect back-off, doubling; WAIT waits
	// MaxBackoff at once. Defaults 0.2 s and 15 s (ms_initial_backoff,
	// ms_max_backoff).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// IdleTimeout faults an OPENED socket with no traffic either way for
	// this long (ms_connection_idle_timeout). Default 900 s; negative: off.
	IdleTimeout time.Duration
	// BodyProgressTimeout faults a socket whose current message body (its
	// throttles all held) has received no byte for this long: the message
	// is dropped, its throttle reservations are returned, and the
	// session's fault policy applies (lossy: closed; lossless: standby or
	// reconnect, the peer resends what was not acknowledged). Time spent
	// waiting for a throttle does not count. Ceph has no such timer: its
	// ms_connection_idle_timeout (IdleTimeout here) ends such a socket
	// only after 900 s. Default 30 s; negative: off.
	BodyProgressTimeout time.Duration
	// StandbyTimeout forgets a session that waits in STANDBY for its peer
	// (a server's view of a departed client) after this long; negative:
	// never. Default 15 min.
	StandbyTimeout time.Duration

	// InjectSocketFailures fails about one socket read or write in N
	// (ms_inject_socket_failures); 0: off.
	InjectSocketFailures int
	// InjectDelay pauses reading for InjectDelay about once every
	// InjectDelayEvery reads (ms_inject_delay_*); 0: off.
	InjectDelay      time.Duration
	InjectDelayEvery int

	// RecycleMessages takes received messages of up to 64 KiB from a
	// bounded pool and lets Message.Recycle return them (pool.go). The
	// receiver must then follow Recycle's rule: after Recycle neither the
	// message nor its sections may be used, unless it was passed to
	// SendMessage, which holds it until it is sent and acknowledged.
	// Messages never recycled are left to the garbage collector, as with
	// the option off.
	RecycleMessages bool

	// AuthNoneID is the id in the AUTH_NONE authorizer we send to daemons
	// ("a" for mon.a). Default: the decimal number of Name.
	AuthNoneID string

	Clock Clock
	// Logf receives one line per notable event (faults, refusals). nil: silent.
	Logf func(format string, args ...any)
	// ThrottleWaitObserver, if set, sees every throttle wait (name, duration).
	ThrottleWaitObserver func(name string, d time.Duration)
	// ThrottleWakeupObserver, if set, sees every throttle wake-up (name,
	// time from the release that granted a paused reader to its grant
	// callback running on its loop; see throttle.WithWakeupObserver).
	ThrottleWakeupObserver func(name string, d time.Duration)
}

// Defaults.
const (
	DefaultMaxMessageBytes          = 128 << 20
	DefaultDispatchThrottleBytes    = 100 << 20
	DefaultDispatchThrottleMessages = 1 << 16
	DefaultMaxOutQueueBytes         = 64 << 20
	DefaultMaxOutQueueMessages      = 1 << 16
	DefaultWriteBatchBytes          = 256 << 10
	DefaultHandshakeTimeout         = 10 * time.Second
	DefaultInitialBackoff           = 200 * time.Millisecond
	DefaultMaxBackoff               = 15 * time.Second
	DefaultStandbyTimeout           = 15 * time.Minute
	DefaultIdleTimeout              = 900 * time.Second
	DefaultBodyProgressTimeout      = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.DispatchThrottleBytes == 0 {
		c.DispatchThrottleBytes = DefaultDispatchThrottleBytes
	}
	if c.DispatchThrottleMessages == 0 {
		c.DispatchThrottleMessages = DefaultDispatchThrottleMessages
	}
	if c.MaxOutQueueBytes == 0 {
		c.MaxOutQueueBytes = DefaultMaxOutQueueBytes
	}
	if c.MaxOutQueueMessages == 0 {
		c.MaxOutQueueMessages = DefaultMaxOutQueueMessages
	}
	if c.WriteBatchBytes == 0 {
		c.WriteBatchBytes = DefaultWriteBatchBytes
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = DefaultInitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.BodyProgressTimeout == 0 {
		c.BodyProgressTimeout = DefaultBodyProgressTimeout
	}
	if c.StandbyTimeout == 0 {
		c.StandbyTimeout = DefaultStandbyTimeout
	}
	if c.Clock == nil {
		c.Clock = RealClock
	}
	if c.DefaultPolicy.FeaturesSupported == 0 {
		c.DefaultPolicy.FeaturesSupported = wire.FeaturesAll
	}
	if c.AuthNoneID == "" {
		c.AuthNoneID = itoa(c.Name.Num)
	}
	return c
}

func itoa(n int64) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Counters mirror Ceph's messenger perf counters. They are plain atomics
// updated on the hot path; the msgr package exports them to Prometheus.
type Counters struct {
	MsgsSent, BytesSent         atomic.Uint64
	MsgsReceived, BytesReceived atomic.Uint64
	ConnectionsOpen             atomic.Int64  // sockets now open
	Accepted, Connects          atomic.Uint64 // sockets accepted / dials started
	SessionsOpened              atomic.Uint64 // handshakes completed
	Faults, Reconnects          atomic.Uint64
	DuplicatesDropped           atomic.Uint64
	Resent                      atomic.Uint64 // messages requeued for resend
	BadInput                    atomic.Uint64 // sockets closed for malformed input
	InjectedFailures            atomic.Uint64
	KeepalivesReceived          atomic.Uint64
	// ThrottledReads counts reads paused by a throttle.
	ThrottledReads atomic.Uint64
	// BodyTimeouts counts sockets faulted by BodyProgressTimeout.
	BodyTimeouts atomic.Uint64
	// OutQueueFull counts SendMessage calls refused at the out-queue
	// bound (queued plus sent-and-unacked: a peer that neither reads nor
	// acknowledges), so the caller's drop is visible from outside.
	OutQueueFull atomic.Uint64
}
