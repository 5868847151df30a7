package msgr

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/protocol"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Names re-exported from the protocol package so users need only msgr.
type (
	// Message is one msgr1 message; see protocol.Message for ownership.
	Message = protocol.Message
	// Connection is a session with one peer (Ceph's Connection): it
	// survives socket faults per its Policy. Send from any goroutine.
	Connection = protocol.Session
	// Policy is Ceph's Messenger::Policy.
	Policy = protocol.Policy
	// Clock supplies time and connection-independent timers.
	Clock = protocol.Clock
)

// Errors.
var (
	ErrOutQueueFull  = protocol.ErrOutQueueFull
	ErrSessionClosed = protocol.ErrSessionClosed
	ErrNotStarted    = errors.New("msgr: messenger not started")
)

// PolicyByName returns a preset (stateful_server, stateless_server,
// lossless_peer, lossless_peer_reuse, lossy_client, lossless_client, ...).
func PolicyByName(name string) (Policy, error) { return protocol.PolicyByName(name, 0) }

// PolicyNames lists the presets.
func PolicyNames() []string { return protocol.PolicyNames() }

// Dispatcher receives messages and connection events (Ceph's Dispatcher).
// All methods run on the dispatch goroutine, in queue order, with no
// messenger lock held: they may send, mark down and connect.
type Dispatcher interface {
	// Dispatch handles a message. Its throttle capacity is returned when
	// Dispatch returns; the message's sections stay valid afterwards.
	Dispatch(m *Message)
	HandleConnect(c *Connection)     // our outgoing session is OPENED
	HandleAccept(c *Connection)      // an incoming session is OPENED
	HandleReset(c *Connection)       // a lossy session faulted (it is closed)
	HandleRemoteReset(c *Connection) // the peer reset the session
	HandleRefused(c *Connection)     // a lossy connect failed before OPENED
}

// FastDispatcher is optional: messages for which CanFastDispatch is true are
// handed to FastDispatch on the connection's loop, skipping the queue (right
// after a replace, possibly the loop of the session's previous socket, which
// delivers what the new one read meanwhile, in order). Both must not block;
// no messenger lock is held, so both may call back into the messenger.
//
// With Config.RecycleFastDispatch the message is lent: it and its sections
// are valid until FastDispatch returns, unless FastDispatch passes the
// message itself to SendMessage (Message.Reuse), which keeps it until it
// is sent and acknowledged. The messenger then reuses it for a later
// receive, so an echo allocates nothing per message.
type FastDispatcher interface {
	CanFastDispatch(m *Message) bool
	FastDispatch(m *Message)
}

// Config configures a Messenger. Zero fields take Ceph's defaults.
type Config struct {
	// Name is our entity name, e.g. "osd.0" or "client.-1".
	Name string
	// Nonce identifies this messenger instance; RandomNonce picks one.
	Nonce       uint32
	RandomNonce bool
	// AuthNoneID is the id sent in AUTH_NONE authorizers ("b" for mon.b).
	AuthNoneID string

	// Policy is the default policy preset name (default stateful_server for
	// a bound messenger, lossless_client otherwise); PeerPolicies override
	// it per peer type.
	Policy       string
	PeerPolicies map[wire.EntityType]Policy
	// ThrottleMessages and ThrottleBytes set the default policy's throttles.
	ThrottleMessages int64
	ThrottleBytes    int64
	// DispatchThrottleBytes bounds received, undispatched bytes (default 100 MiB).
	DispatchThrottleBytes int64

	// RecycleFastDispatch lends fast-dispatched messages instead of giving
	// them away (see FastDispatcher): their buffers come back to a bounded
	// pool (protocol.Config.RecycleMessages). Messages for Dispatch are
	// unaffected.
	RecycleFastDispatch bool

	// NoCRC turns header and data CRCs off (--crc none). msgr1 only:
	// with it, binding or dialling a v2 address fails with
	// protocol.ErrV2NoCRC (msgr2 crc mode always checks).
	NoCRC bool
	// MaxMessageBytes bounds a received message (default 128 MiB).
	MaxMessageBytes uint64

	HandshakeTimeout time.Duration
	InitialBackoff   time.Duration
	MaxBackoff       time.Duration
	// StandbyTimeout forgets sessions waiting for a peer that never returns
	// (default 15 min, negative: never).
	StandbyTimeout time.Duration
	// IdleTimeout faults a socket without traffic (default 900 s, negative: off).
	IdleTimeout time.Duration
	// BodyProgressTimeout faults a socket whose message body, its
	// throttles held, receives nothing for this long, returning the
	// throttle reservations (default 30 s, negative: off; see
	// protocol.Config).
	BodyProgressTimeout time.Duration

	// Fault injection (Ceph's ms_inject_socket_failures, ms_inject_delay_*).
	InjectSocketFailures int
	InjectDelay          time.Duration
	InjectDelayEvery     int

	// Registry receives the messenger's metrics; several messengers may
	// share one (their values are summed).
	Registry prometheus.Registerer
	Clock    Clock
	Logf     func(format string, args ...any)
}

// Messenger is Ceph's AsyncMessenger over an engine.
type Messenger struct {
	eng  engine.Engine
	cfg  Config
	name wire.EntityName
	ep   *protocol.Endpoint
	dq   *dispatchQueue
	met  *collector

	mu      sync.Mutex
	disp    Dispatcher
	fast    atomic.Pointer[FastDispatcher]
	started bool
	done    chan struct{}
}

// New builds a messenger on eng.
func New(eng engine.Engine, cfg Config) (*Messenger, error) {
	name, err := wire.ParseEntityName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("msgr: name: %w", err)
	}
	if cfg.RandomNonce {
		cfg.Nonce = rand.Uint32()
	}
	polName := cfg.Policy
	if polName == "" {
		polName = "lossless_client"
	}
	pol, err := protocol.PolicyByName(polName, 0)
	if err != nil {
		return nil, err
	}
	pol.ThrottleMessages, pol.ThrottleBytes = cfg.ThrottleMessages, cfg.ThrottleBytes
	m := &Messenger{eng: eng, cfg: cfg, name: name, dq: newDispatchQueue(), done: make(chan struct{})}
	pc := protocol.Config{
		Name: name, Nonce: cfg.Nonce, DefaultPolicy: pol, Policies: cfg.PeerPolicies,
		CRC:             wire.CRCMode{Header: !cfg.NoCRC, Data: !cfg.NoCRC},
		MaxMessageBytes: cfg.MaxMessageBytes, DispatchThrottleBytes: cfg.DispatchThrottleBytes,
		HandshakeTimeout: cfg.HandshakeTimeout, InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff,
		StandbyTimeout: cfg.StandbyTimeout, IdleTimeout: cfg.IdleTimeout, BodyProgressTimeout: cfg.BodyProgressTimeout,
		InjectSocketFailures: cfg.InjectSocketFailures, InjectDelay: cfg.InjectDelay, InjectDelayEvery: cfg.InjectDelayEvery,
		AuthNoneID: cfg.AuthNoneID, Clock: cfg.Clock, Logf: cfg.Logf,
		RecycleMessages: cfg.RecycleFastDispatch,
	}
	if cfg.Registry != nil {
		m.met = attachCollector(cfg.Registry)
		pc.ThrottleWaitObserver = m.met.observeWait
		pc.ThrottleWakeupObserver = m.met.observeWakeup
	}
	m.ep = protocol.NewEndpoint(eng, pc, (*hooks)(m))
	if m.met != nil {
		m.met.add(m)
	}
	return m, nil
}

// Name is our entity name.
func (m *Messenger) Name() wire.EntityName { return m.name }

// Endpoint exposes the protocol layer (throttles, counters) for tests and metrics.
func (m *Messenger) Endpoint() *protocol.Endpoint { return m.ep }

// Bind listens on addr ("host:port", port 0 for any): msgr1, or with
// "v2:" in front msgr2.1 in crc mode (lossy and lossless policies).
func (m *Messenger) Bind(addr string) error { return m.ep.Bind(addr) }

// Addr is our entity address: bound (the msgr2 one if Bind was called
// for both protocols: the front of Addrs), or learned from a peer.
func (m *Messenger) Addr() wire.EntityAddr { return m.ep.Addr() }

// Addrs is our address vector in Ceph's order: the msgr2 address, then
// the msgr1 one, of the protocols bound (Bind may be called once per
// protocol, to listen on both as Ceph daemons do); unbound, Addr alone.
func (m *Messenger) Addrs() []wire.EntityAddr { return m.ep.Addrs() }

// ListenAddr is the first bound socket address, nil if not bound.
func (m *Messenger) ListenAddr() net.Addr { return m.ep.ListenAddr() }

// ListenAddrs are the bound socket addresses, in Bind order.
func (m *Messenger) ListenAddrs() []net.Addr { return m.ep.ListenAddrs() }

// Start begins dispatching to d.
func (m *Messenger) Start(d Dispatcher) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("msgr: already started")
	}
	m.disp = d
	if f, ok := d.(FastDispatcher); ok {
		m.fast.Store(&f)
	}
	m.started = true
	go m.dispatchLoop()
	return nil
}

// ConnectTo returns the connection to a peer at addr, creating it if
// needed; it returns at once and connects in the background. "HOST:PORT"
// speaks msgr1 and learns the peer's nonce from its banner.
// "v2:IP:PORT[/NONCE]" speaks msgr2.1 in crc mode; msgr2 has no banner
// address, so the server must be at exactly that nonce (0 if not given,
// as a monitor is). "v1:IP:PORT[/NONCE]" is msgr1, the nonce checked
// when given.
func (m *Messenger) ConnectTo(peerType wire.EntityType, addr string) (*Connection, error) {
	if strings.HasPrefix(addr, "v2:") || strings.HasPrefix(addr, "v1:") {
		a, err := wire.ParseTypedAddr(addr)
		if err != nil {
			return nil, fmt.Errorf("msgr: connect %s: %w", addr, err)
		}
		return m.ep.Connect(peerType, a, strings.Contains(addr, "/"))
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ta, rerr := net.ResolveTCPAddr("tcp", addr)
		if rerr != nil {
			return nil, fmt.Errorf("msgr: connect %s: %w", addr, err)
		}
		ap = ta.AddrPort()
	}
	return m.ep.Connect(peerType, wire.NewEntityAddr(ap, 0), false)
}

// ConnectToAddr connects to a peer whose full entity address (with nonce)
// is known, as Ceph does from a monmap/osdmap; the server must announce
// exactly that address.
func (m *Messenger) ConnectToAddr(peerType wire.EntityType, addr wire.EntityAddr) (*Connection, error) {
	return m.ep.Connect(peerType, addr, true)
}

// Shutdown closes the listener and every connection, stops dispatching
// (undispatched messages are released) and waits for the dispatch
// goroutine or ctx. It does not shut the engine down.
func (m *Messenger) Shutdown(ctx context.Context) error {
	m.ep.Stop()
	rest := m.dq.stop()
	for _, it := range rest {
		if it.m != nil {
			it.m.Release()
		}
	}
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if m.met != nil {
		m.met.remove(m)
	}
	if !started {
		return nil
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DispatchQueueLen is the number of queued messages and events.
func (m *Messenger) DispatchQueueLen() int { return m.dq.len() }

func (m *Messenger) dispatchLoop() {
	defer close(m.done)
	for {
		it, ok := m.dq.pop()
		if !ok {
			return
		}
		if it.m != nil {
			m.disp.Dispatch(it.m)
			it.m.Release()
			continue
		}
		it.ev.Notify(m.disp, it.c)
	}
}

// hooks adapts the protocol endpoint's callbacks to the dispatch queue.
type hooks Messenger

func (h *hooks) Deliver(msg *Message) {
	m := (*Messenger)(h)
	if f := m.fast.Load(); f != nil && (*f).CanFastDispatch(msg) {
		(*f).FastDispatch(msg)
		msg.Recycle() // Release, unless from the pool (RecycleFastDispatch)
		return
	}
	if !m.dq.push(msg.Priority, item{m: msg}) {
		msg.Release()
	}
}

func (h *hooks) event(k protocol.Event, c *Connection) {
	(*Messenger)(h).dq.push(0xFFFF, item{ev: k, c: c}) // events go before messages, as Ceph queues them at the highest priority
}

func (h *hooks) HandleConnect(c *Connection)     { h.event(protocol.EventConnect, c) }
func (h *hooks) HandleAccept(c *Connection)      { h.event(protocol.EventAccept, c) }
func (h *hooks) HandleReset(c *Connection)       { h.event(protocol.EventReset, c) }
func (h *hooks) HandleRemoteReset(c *Connection) { h.event(protocol.EventRemoteReset, c) }
func (h *hooks) HandleRefused(c *Connection)     { h.event(protocol.EventRefused, c) }
