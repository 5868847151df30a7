package protocol

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// policyThrottles are shared by every connection of one peer type, as
// Ceph's policy throttlers are.
type policyThrottles struct {
	msgs, bytes *throttle.Throttle
}

// Endpoint is the messenger-wide protocol state.
type Endpoint struct {
	cfg   Config
	eng   engine.Engine
	hooks Hooks
	C     *Counters

	dispatchBytes *throttle.Throttle
	dispatchMsgs  *throttle.Throttle

	globalSeq atomic.Uint32
	globalID  atomic.Uint64 // msgr2 acceptor: the global_ids a monitor-mode client is assigned

	// addrMu guards myAddr; a leaf lock. The lock order of the package is
	// in its doc (section Locks).
	addrMu sync.Mutex
	myAddr wire.EntityAddr // bound or learned address (nonce = cfg.Nonce)

	mu    sync.Mutex
	conns map[wire.AddrKey]*Session // registered sessions by peer address
	all   map[*Session]struct{}
	socks map[*sock]struct{} // accepted sockets not yet attached

	rx    *msgPool // received messages, with Config.RecycleMessages
	wbufs bufPool  // the writers' batch buffers

	thMu      sync.Mutex // guards throttles; a leaf lock
	throttles map[wire.EntityType]*policyThrottles
	stopped   bool
	listener  engine.Listener
	listenV2  bool // the listener speaks msgr2 (Bind "v2:HOST:PORT")
}

// NewEndpoint builds an endpoint; hooks receive messages and events.
func NewEndpoint(eng engine.Engine, cfg Config, hooks Hooks) *Endpoint {
	cfg = cfg.withDefaults()
	ep := &Endpoint{
		cfg: cfg, eng: eng, hooks: hooks, C: new(Counters),
		conns: make(map[wire.AddrKey]*Session), all: make(map[*Session]struct{}),
		socks: make(map[*sock]struct{}), throttles: make(map[wire.EntityType]*policyThrottles),
	}
	if cfg.RecycleMessages {
		ep.rx = new(msgPool)
	}
	ep.dispatchBytes = ep.newThrottle("dispatch_bytes", cfg.DispatchThrottleBytes)
	ep.dispatchMsgs = ep.newThrottle("dispatch_msgs", cfg.DispatchThrottleMessages)
	ep.myAddr = wire.NewEntityAddr(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), cfg.Nonce)
	return ep
}

func (ep *Endpoint) newThrottle(name string, max int64) *throttle.Throttle {
	opts := []throttle.Option{throttle.WithClock(ep.cfg.Clock.Now)}
	if obs := ep.cfg.ThrottleWaitObserver; obs != nil {
		opts = append(opts, throttle.WithWaitObserver(func(d time.Duration) { obs(name, d) }))
	}
	if obs := ep.cfg.ThrottleWakeupObserver; obs != nil {
		opts = append(opts, throttle.WithWakeupObserver(func(d time.Duration) { obs(name, d) }))
	}
	return throttle.New(name, max, opts...)
}

// Config is the configuration with defaults applied.
func (ep *Endpoint) Config() Config { return ep.cfg }

// DispatchThrottles are the endpoint-wide dispatch queue throttles.
func (ep *Endpoint) DispatchThrottles() (bytes, msgs *throttle.Throttle) {
	return ep.dispatchBytes, ep.dispatchMsgs
}

// PolicyThrottles returns the throttles of a peer type (nil when unlimited).
func (ep *Endpoint) PolicyThrottles(t wire.EntityType) (msgs, bytes *throttle.Throttle) {
	pt := ep.policyThrottlesFor(t)
	return pt.msgs, pt.bytes
}

func (ep *Endpoint) policyThrottlesFor(t wire.EntityType) *policyThrottles {
	ep.thMu.Lock()
	defer ep.thMu.Unlock()
	pt := ep.throttles[t]
	if pt == nil {
		p := ep.Policy(t)
		pt = &policyThrottles{}
		if p.ThrottleMessages > 0 {
			pt.msgs = ep.newThrottle("policy_msgs_"+t.String(), p.ThrottleMessages)
		}
		if p.ThrottleBytes > 0 {
			pt.bytes = ep.newThrottle("policy_bytes_"+t.String(), p.ThrottleBytes)
		}
		ep.throttles[t] = pt
	}
	return pt
}

// Policy is the policy for a peer type.
func (ep *Endpoint) Policy(t wire.EntityType) Policy {
	if p, ok := ep.cfg.Policies[t]; ok {
		if p.FeaturesSupported == 0 {
			p.FeaturesSupported = wire.FeaturesAll
		}
		return p
	}
	return ep.cfg.DefaultPolicy
}

// Bind listens on addr and accepts connections: "HOST:PORT" or
// "v1:HOST:PORT" speaks msgr1, "v2:HOST:PORT" msgr2.1 in crc mode. One
// listener per endpoint.
func (ep *Endpoint) Bind(addr string) error {
	hostport, v2 := addr, false
	if rest, ok := strings.CutPrefix(addr, "v2:"); ok {
		hostport, v2 = rest, true
	} else if rest, ok := strings.CutPrefix(addr, "v1:"); ok {
		hostport = rest
	}
	ep.mu.Lock()
	ep.listenV2 = v2 // before Listen: an accepted socket reads it
	ep.mu.Unlock()
	l, err := ep.eng.Listen(hostport, ep.newAcceptHandler)
	if err != nil {
		return fmt.Errorf("msgr: bind %s: %w", addr, err)
	}
	me := wire.AddrFromNet(l.Addr(), ep.cfg.Nonce)
	if v2 {
		me.Type = wire.AddrTypeMsgr2
	}
	// Our address before any connection can be accepted (an msgr2
	// acceptor announces the socket's local address, with our nonce, in
	// SERVER_IDENT).
	ep.addrMu.Lock()
	ep.myAddr = me
	ep.addrMu.Unlock()
	ep.mu.Lock()
	ep.listener = l
	ep.mu.Unlock()
	return nil
}

// Addr is our address: the bound one, or (unbound) blank IP, port 0 and the
// nonce, with the IP learned from the first peer (§5 step 6).
func (ep *Endpoint) Addr() wire.EntityAddr {
	ep.addrMu.Lock()
	defer ep.addrMu.Unlock()
	return ep.myAddr
}

// ListenAddr is the listener's address (nil when not bound).
func (ep *Endpoint) ListenAddr() net.Addr {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.listener == nil {
		return nil
	}
	return ep.listener.Addr()
}

// learnAddr takes our IP from what a peer saw, if we do not know it.
func (ep *Endpoint) learnAddr(seen wire.EntityAddr) {
	ep.addrMu.Lock()
	defer ep.addrMu.Unlock()
	if ep.myAddr.IsBlankIP() && !seen.IsBlankIP() {
		ep.myAddr.IP, ep.myAddr.Family = seen.IP, seen.Family
	}
}

// nextGlobalSeq increments and returns the global seq (§11.3).
func (ep *Endpoint) nextGlobalSeq() uint32 { return ep.globalSeq.Add(1) }

// bumpGlobalSeq handles RETRY_GLOBAL: jump to max(own, seen)+1.
func (ep *Endpoint) bumpGlobalSeq(seen uint32) uint32 {
	for {
		cur := ep.globalSeq.Load()
		next := max(cur, seen) + 1
		if ep.globalSeq.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// Connect returns the session to peer, creating a connector session (which
// connects lazily: at once here, as Ceph's connect_to does) if none is
// registered. If the nonce is unknown (0 with nonceKnown false) any nonce
// the server announces is accepted.
//
// A peer address of type msgr2 (wire.AddrTypeMsgr2, "v2:") is spoken to
// in msgr2.1 crc mode; its nonce must be known (msgr2 has no banner
// address: the server refuses a CLIENT_IDENT whose target is not exactly
// one of its addresses). Lossy and lossless policies both work over
// msgr2 (a lossless session resumes with SESSION_RECONNECT).
func (ep *Endpoint) Connect(peerType wire.EntityType, peer wire.EntityAddr, nonceKnown bool) (*Session, error) {
	pol := ep.Policy(peerType)
	v2 := peer.Type == wire.AddrTypeMsgr2
	ep.mu.Lock()
	if ep.stopped {
		ep.mu.Unlock()
		return nil, ErrSessionClosed
	}
	if s := ep.conns[peer.Key()]; s != nil && !s.isClosed() {
		ep.mu.Unlock()
		return s, nil
	}
	s := newSession(ep, peerType, peer, pol, true)
	s.nonceKnown = nonceKnown || v2
	s.v2 = v2
	ep.conns[peer.Key()] = s
	ep.all[s] = struct{}{}
	ep.mu.Unlock()
	s.mu.Lock()
	s.connectLocked()
	s.mu.Unlock()
	return s, nil
}

// unregister removes s from the registry if it is still the entry.
func (ep *Endpoint) unregister(s *Session) {
	ep.mu.Lock()
	if ep.conns[s.regKey] == s {
		delete(ep.conns, s.regKey)
	}
	delete(ep.all, s)
	ep.mu.Unlock()
}

// Sessions returns every live session.
func (ep *Endpoint) Sessions() []*Session {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	out := make([]*Session, 0, len(ep.all))
	for s := range ep.all {
		out = append(out, s)
	}
	return out
}

// Stop closes the listener and marks every session down. It does not shut
// the engine down (the engine may be shared).
func (ep *Endpoint) Stop() {
	ep.mu.Lock()
	ep.stopped = true
	l := ep.listener
	ep.listener = nil
	var ss []*Session
	for s := range ep.all {
		ss = append(ss, s)
	}
	var socks []*sock
	for k := range ep.socks {
		socks = append(socks, k)
	}
	ep.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
	for _, s := range ss {
		s.MarkDown()
	}
	for _, k := range socks {
		_ = k.c.Close()
	}
}

func (ep *Endpoint) logf(format string, args ...any) {
	if ep.cfg.Logf != nil {
		ep.cfg.Logf(format, args...)
	}
}

func (ep *Endpoint) newAcceptHandler(c engine.Conn) engine.Handler {
	s := newSock(ep, c, nil)
	s.accept = true
	s.lc = c
	ep.mu.Lock()
	s.v2 = ep.listenV2
	if ep.stopped {
		ep.mu.Unlock()
		_ = c.Close()
		return s
	}
	ep.socks[s] = struct{}{}
	ep.mu.Unlock()
	ep.C.Accepted.Add(1)
	return s
}

func (ep *Endpoint) forgetSock(s *sock) {
	ep.mu.Lock()
	delete(ep.socks, s)
	ep.mu.Unlock()
}

// AllPolicyThrottles lists the policy throttles created so far.
func (ep *Endpoint) AllPolicyThrottles() []*throttle.Throttle {
	ep.thMu.Lock()
	defer ep.thMu.Unlock()
	var out []*throttle.Throttle
	for _, pt := range ep.throttles {
		if pt.msgs != nil {
			out = append(out, pt.msgs)
		}
		if pt.bytes != nil {
			out = append(out, pt.bytes)
		}
	}
	return out
}
