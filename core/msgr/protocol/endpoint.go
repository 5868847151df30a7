package protocol

import (
	"errors"
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

	// addrMu guards myAddr and bound; a leaf lock. The lock order of the
	// package is in its doc (section Locks).
	addrMu sync.Mutex
	myAddr wire.EntityAddr // unbound: blank IP, port 0, our nonce; the IP learned from a peer
	// bound are the listeners' addresses (nonce = cfg.Nonce), one per
	// protocol: [0] msgr1 (type legacy), [1] msgr2 (type msgr2); Port 0
	// where that protocol has no listener.
	bound [2]wire.EntityAddr

	mu    sync.Mutex
	conns map[wire.AddrKey]*Session // registered sessions by peer address
	all   map[*Session]struct{}
	socks map[*sock]struct{} // accepted sockets not yet attached

	rx    *msgPool // received messages, with Config.RecycleMessages
	wbufs bufPool  // the writers' batch buffers

	thMu      sync.Mutex // guards throttles; a leaf lock
	throttles map[wire.EntityType]*policyThrottles
	stopped   bool
	listeners []boundListener // in Bind order; at most one per protocol
}

// boundListener is one of the endpoint's listeners and the protocol its
// accepted sockets speak.
type boundListener struct {
	l  engine.Listener
	v2 bool
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
// "v1:HOST:PORT" speaks msgr1, "v2:HOST:PORT" msgr2.1 in crc mode. Bind
// again with the other protocol to listen on both, as Ceph daemons do (one
// listener per protocol): each accepted socket speaks its listener's
// protocol, and the sessions, throttles and dispatcher are shared.
func (ep *Endpoint) Bind(addr string) error {
	hostport, v2 := addr, false
	if rest, ok := strings.CutPrefix(addr, "v2:"); ok {
		hostport, v2 = rest, true
	} else if rest, ok := strings.CutPrefix(addr, "v1:"); ok {
		hostport = rest
	}
	ep.mu.Lock()
	err := ep.canBindLocked(v2)
	ep.mu.Unlock()
	if err != nil {
		return fmt.Errorf("msgr: bind %s: %w", addr, err)
	}
	// The protocol goes to each accepted socket with the handler, so two
	// listeners never share a flag.
	l, err := ep.eng.Listen(hostport, func(c engine.Conn) engine.Handler { return ep.newAcceptHandler(c, v2) })
	if err != nil {
		return fmt.Errorf("msgr: bind %s: %w", addr, err)
	}
	me := wire.AddrFromNet(l.Addr(), ep.cfg.Nonce)
	slot := 0
	if v2 {
		me.Type, slot = wire.AddrTypeMsgr2, 1
	}
	ep.mu.Lock()
	// Again: a Stop or another Bind may have run meanwhile.
	if err = ep.canBindLocked(v2); err == nil {
		ep.listeners = append(ep.listeners, boundListener{l: l, v2: v2})
		// Our address, which the msgr1 banner reads, is recorded before
		// Bind returns, so before anyone can dial a port-0 listener.
		ep.addrMu.Lock()
		ep.bound[slot] = me
		ep.addrMu.Unlock()
	}
	ep.mu.Unlock()
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("msgr: bind %s: %w", addr, err)
	}
	return nil
}

// canBindLocked says whether a listener of that protocol may be added
// (ep.mu held): one per protocol, none once stopped.
func (ep *Endpoint) canBindLocked(v2 bool) error {
	if ep.stopped {
		return errors.New("the endpoint is stopped")
	}
	if v2 && (!ep.cfg.CRC.Header || !ep.cfg.CRC.Data) {
		return ErrV2NoCRC
	}
	for _, bl := range ep.listeners {
		if bl.v2 == v2 {
			name := "msgr1"
			if v2 {
				name = "msgr2"
			}
			return fmt.Errorf("already listening for %s at %s (one listener per protocol)", name, bl.l.Addr())
		}
	}
	return nil
}

// Addr is our address: with a listener, the bound one (the msgr2 one when
// both protocols listen, the front of Addrs, as Ceph's get_myaddr is);
// unbound, blank IP, port 0 and the nonce, with the IP learned from the
// first peer (§5 step 6).
func (ep *Endpoint) Addr() wire.EntityAddr {
	ep.addrMu.Lock()
	defer ep.addrMu.Unlock()
	for _, i := range []int{1, 0} {
		if ep.bound[i].Port != 0 {
			return ep.bound[i]
		}
	}
	return ep.myAddr
}

// Addrs is our address vector as Ceph's addrvec orders it: the msgr2
// address, then the msgr1 one, of the protocols that listen; unbound,
// Addr alone.
func (ep *Endpoint) Addrs() []wire.EntityAddr {
	ep.addrMu.Lock()
	defer ep.addrMu.Unlock()
	var out []wire.EntityAddr
	for _, i := range []int{1, 0} {
		if ep.bound[i].Port != 0 {
			out = append(out, ep.bound[i])
		}
	}
	if len(out) == 0 {
		out = append(out, ep.myAddr)
	}
	return out
}

// legacyAddr is the address msgr1 announces (the banner, a connector's
// address, the connect-race comparison): the msgr1 listener's, else Addr,
// as Ceph's ProtocolV1 uses the legacy entry of the address vector.
func (ep *Endpoint) legacyAddr() wire.EntityAddr {
	ep.addrMu.Lock()
	a := ep.bound[0]
	ep.addrMu.Unlock()
	if a.Port != 0 {
		return a
	}
	return ep.Addr()
}

// serverIdentAddrs are the addresses an msgr2 acceptor's SERVER_IDENT
// lists, which a CLIENT_IDENT's target must be one of: the accepting
// socket's local address as msgr2 (the address the client dialled, also
// when bound to a blank IP), then the msgr1 listener's, if any (a blank IP
// of the same family completed the same way), as Ceph's addrvec is v2
// then v1.
func (ep *Endpoint) serverIdentAddrs(local net.Addr) []wire.EntityAddr {
	me := wire.AddrFromNet(local, ep.cfg.Nonce)
	me.Type = wire.AddrTypeMsgr2
	ep.addrMu.Lock()
	v1 := ep.bound[0]
	ep.addrMu.Unlock()
	if v1.Port == 0 {
		return []wire.EntityAddr{me}
	}
	if v1.IsBlankIP() && v1.Family == me.Family {
		// Bound to 0.0.0.0 (or ::): reachable at the IP the client
		// dialled, if of its family (an IPv4 listener has no IPv6 address).
		v1.IP = me.IP
	}
	return []wire.EntityAddr{me, v1}
}

// ListenAddr is the first listener's address (nil when not bound).
func (ep *Endpoint) ListenAddr() net.Addr {
	if ls := ep.ListenAddrs(); len(ls) > 0 {
		return ls[0]
	}
	return nil
}

// ListenAddrs are the listeners' addresses, in Bind order.
func (ep *Endpoint) ListenAddrs() []net.Addr {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	out := make([]net.Addr, 0, len(ep.listeners))
	for _, bl := range ep.listeners {
		out = append(out, bl.l.Addr())
	}
	return out
}

// learnAddr takes our IP from what a peer saw, for each of our addresses
// whose IP we do not know (unbound, or bound to a blank IP).
func (ep *Endpoint) learnAddr(seen wire.EntityAddr) {
	if seen.IsBlankIP() {
		return
	}
	ep.addrMu.Lock()
	defer ep.addrMu.Unlock()
	for _, a := range []*wire.EntityAddr{&ep.myAddr, &ep.bound[0], &ep.bound[1]} {
		if a.IsBlankIP() && (a == &ep.myAddr || a.Port != 0) {
			a.IP, a.Family = seen.IP, seen.Family
		}
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
	if v2 && (!ep.cfg.CRC.Header || !ep.cfg.CRC.Data) {
		return nil, fmt.Errorf("connect %s: %w", peer.TypedString(), ErrV2NoCRC)
	}
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
	s.v2.Store(v2)
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

// Stop closes every listener and marks every session down. It does not
// shut the engine down (the engine may be shared).
func (ep *Endpoint) Stop() {
	ep.mu.Lock()
	ep.stopped = true
	ls := ep.listeners
	ep.listeners = nil
	var ss []*Session
	for s := range ep.all {
		ss = append(ss, s)
	}
	var socks []*sock
	for k := range ep.socks {
		socks = append(socks, k)
	}
	ep.mu.Unlock()
	for _, bl := range ls {
		_ = bl.l.Close()
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

// newAcceptHandler is the handler of a socket that a listener of
// protocol v2 (msgr2, else msgr1) accepted.
func (ep *Endpoint) newAcceptHandler(c engine.Conn, v2 bool) engine.Handler {
	s := newSock(ep, c, nil)
	s.accept = true
	s.lc = c
	s.v2 = v2
	ep.mu.Lock()
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
