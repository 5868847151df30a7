package msgrtest

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/protocol"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
)

// Interop scenarios against a real ceph-mon (Debian 16.2.15, msgr1, auth
// none), started by core/peers. They need an engine with real sockets, so
// engine modules run them: `msgrtest.CephMonClient(t, eng, true)`. They
// skip when ceph-mon is not installed.

// inbox collects every received message on the loop.
type inbox struct {
	Base
	gate   chan struct{} // if set, the first dispatched message waits for it
	gated  bool
	mu     sync.Mutex
	msgs   []*msgr.Message
	events []string
	wake   chan struct{}
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

func (b *inbox) CanFastDispatch(*msgr.Message) bool { return b.gate == nil }

// Dispatch runs on the dispatch goroutine when gated: the first message
// holds it (and its throttle capacity) until the gate opens.
func (b *inbox) Dispatch(m *msgr.Message) {
	b.FastDispatch(m)
	if !b.gated {
		b.gated = true
		<-b.gate
	}
}
func (b *inbox) FastDispatch(m *msgr.Message) {
	// The message's sections outlive Release: keep them.
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.signal()
}

// monGetVersion asks the mon for the osdmap's version (MMonGetVersion,
// handle 5, tid 42) on conn and returns its checked reply.
func (b *inbox) monGetVersion(t testing.TB, conn *msgr.Connection) *msgr.Message {
	t.Helper()
	if err := conn.SendMessage(&msgr.Message{Type: MsgMonGetVersion, Version: 1, CompatVersion: 1, Tid: 42,
		Front: MonGetVersionFront(5, "osdmap")}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "MMonGetVersionReply", 10*time.Second, func() bool { return b.find(MsgMonGetVersionReply, 42) != nil })
	b.mu.Lock()
	gr := b.find(MsgMonGetVersionReply, 42)
	b.mu.Unlock()
	v, err := DecodeMonGetVersionReply(gr.Front)
	if err != nil || v.Handle != 5 || v.Version < 1 {
		t.Fatalf("MMonGetVersionReply %+v %v", v, err)
	}
	return gr
}

func (b *inbox) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
func (b *inbox) ev(s string) { b.mu.Lock(); b.events = append(b.events, s); b.mu.Unlock(); b.signal() }

func (b *inbox) HandleConnect(*msgr.Connection)     { b.ev("connect") }
func (b *inbox) HandleAccept(*msgr.Connection)      { b.ev("accept") }
func (b *inbox) HandleReset(*msgr.Connection)       { b.ev("reset") }
func (b *inbox) HandleRemoteReset(*msgr.Connection) { b.ev("remote_reset") }

// waitFor waits until cond (checked under b.mu) holds.
func (b *inbox) waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		b.mu.Lock()
		ok := cond()
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-b.wake:
		case <-deadline:
			t.Fatalf("timeout waiting for %s", what)
		case <-time.After(10 * time.Millisecond): // keepalive acks have no callback
		}
	}
}

func (b *inbox) find(typ uint16, tid uint64) *msgr.Message {
	for _, m := range b.msgs {
		if m.Type == typ && (tid == 0 || m.Tid == tid) {
			return m
		}
	}
	return nil
}

// requireCephMon fails (never skips) without ceph-mon: `make deps`
// installs it, and a skipped interop test must not pass for a run.
func requireCephMon(t *testing.T) {
	if _, err := peers.CephMonBinary(); err != nil {
		t.Fatalf("%v (install it with `make deps` as root)", err)
	}
}

func shutdownT(m *msgr.Messenger) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = m.Shutdown(ctx)
}

// CephMonClient: our client → a real mon. seqPath offers RECONNECT_SEQ
// (the mon answers SEQ); otherwise READY. KEEPALIVE2 round trip, MAuth
// (auth none) → MAuthReply, MMonGetVersion → reply; every CRC is checked
// by the receiver (a bad one would close the connection and fail the wait).
func CephMonClient(t *testing.T, eng engine.Engine, seqPath bool) {
	requireCephMon(t)
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddrOnly(t)})
	pol, _ := msgr.PolicyByName("lossy_client")
	pol.FeaturesSupported = wire.FeaturesAll
	if !seqPath {
		pol.FeaturesSupported &^= wire.FeatureReconnectSeq
	}
	m, err := msgr.New(eng, msgr.Config{Name: "client.-1", RandomNonce: true, Policy: "lossy_client",
		PeerPolicies: map[wire.EntityType]msgr.Policy{wire.EntityMon: pol}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	_ = m.Start(in)
	defer shutdownT(m)
	conn, err := m.ConnectToAddr(wire.EntityMon, wire.NewEntityAddr(netip.MustParseAddrPort(mon.Addr), 0))
	if err != nil {
		t.Fatal(err)
	}
	in.waitFor(t, "handshake", 10*time.Second, func() bool { return len(in.events) > 0 })
	if !conn.IsOpen() || !conn.Lossy() {
		t.Fatalf("state %s lossy %v events %v", conn.State(), conn.Lossy(), in.events)
	}
	if got := conn.Features(); got != pol.FeaturesSupported {
		t.Fatalf("features %#x, want %#x", got, pol.FeaturesSupported)
	}
	conn.SendKeepalive()
	in.waitFor(t, "KEEPALIVE2_ACK", 10*time.Second, func() bool { return !conn.LastKeepaliveAck().IsZero() })

	_ = conn.SendMessage(&msgr.Message{Type: MsgAuth, Version: 1, CompatVersion: 1,
		Front: MAuthFront(uint32(wire.EntityClient), "admin", []uint32{AuthNone}, 0, 0)})
	in.waitFor(t, "MAuthReply", 10*time.Second, func() bool { return in.find(MsgAuthReply, 0) != nil })
	in.mu.Lock()
	ar := in.find(MsgAuthReply, 0)
	in.mu.Unlock()
	r, err := DecodeAuthReply(ar.Front)
	if err != nil || r.Protocol != AuthNone || r.Result != 0 || r.GlobalID == 0 {
		t.Fatalf("MAuthReply %+v %v", r, err)
	}
	if ar.Src.Type != wire.EntityMon || ar.Priority != wire.PrioHigh {
		t.Fatalf("MAuthReply header src %v prio %d", ar.Src, ar.Priority)
	}
	in.monGetVersion(t, conn)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// monPeer is our server posing as mon.b in mon.a's monmap.
type monPeer struct {
	m    *msgr.Messenger
	in   *inbox
	addr string
}

func startMonPeer(t *testing.T, eng engine.Engine, addr string, inject int) *monPeer {
	return startMonPeerGated(t, eng, addr, inject, nil, "stateful_server")
}

// startMonPeerGated: with gate set, the policy message throttle is 1 and
// the first probe holds the dispatcher, so later probes stay unread (and
// unacked) in the socket until the gate opens.
func startMonPeerGated(t *testing.T, eng engine.Engine, addr string, inject int, gate chan struct{}, policy string) *monPeer {
	pol, _ := msgr.PolicyByName(policy)
	pol.FeaturesSupported = wire.FeaturesAll
	if gate != nil {
		pol.ThrottleMessages = 1
	}
	m, err := msgr.New(eng, msgr.Config{Name: "mon.1", Nonce: 0, AuthNoneID: "b", Policy: "stateful_server",
		PeerPolicies: map[wire.EntityType]msgr.Policy{wire.EntityMon: pol}, InjectSocketFailures: inject,
		Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	in.gate = gate
	_ = m.Start(in)
	if err := m.Bind(addr); err != nil {
		t.Fatal(err)
	}
	return &monPeer{m: m, in: in, addr: addr}
}

// probeSeqs returns the seqs of MMonProbes received, in order.
func (p *monPeer) probeSeqs() []uint64 {
	p.in.mu.Lock()
	defer p.in.mu.Unlock()
	var s []uint64
	for _, m := range p.in.msgs {
		if m.Type == MsgMonProbe {
			s = append(s, m.Seq)
		}
	}
	return s
}

// MonHost is the kernel address the real ceph-mon binds; OurHost is the
// address the messenger under test binds and announces. Both are 127.0.0.1
// except for an engine on a userspace stack (impl-dpdk's tests): its own
// address, and a kernel address on the namespace's lo that it can reach.
var MonHost, OurHost = "127.0.0.1", "127.0.0.1"

// OurFreePort, when set, picks the port our messenger binds. A userspace
// stack has a port space of its own that the kernel's free ports say
// nothing about; the engine's tests ask their own stack.
var OurFreePort func(t *testing.T) int

// monPorts returns the mon's address and ours on two free ports, the
// mon's the lower (rank 0 when the hosts are equal) unless oursLow.
func monPorts(t *testing.T, oursLow bool) (monA, ours string) {
	ps, err := peers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(ps)
	if oursLow {
		ps[0], ps[1] = ps[1], ps[0]
	}
	if OurFreePort != nil {
		ps[1] = OurFreePort(t) // another host: the port order sets no rank
	}
	return fmt.Sprintf("%s:%d", MonHost, ps[0]), fmt.Sprintf("%s:%d", OurHost, ps[1])
}

func monAddrOnly(t *testing.T) string {
	a, _ := monPorts(t, false)
	return a
}

func checkConsecutive(t *testing.T, seqs []uint64, from uint64) {
	t.Helper()
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("probe seqs %v: want %d.. each exactly once, in order", seqs, from)
		}
	}
}

// CephMonPeer: a real mon dials our server as its lossless mon↔mon peer;
// we receive MMonProbes (seq 1, 2, ...) and ACK them; after our server is
// restarted (no session memory) the mon's reconnect gets RESETSESSION and
// the session restarts at seq 1.
func CephMonPeer(t *testing.T, eng engine.Engine) {
	requireCephMon(t)
	monAddr, ours := monPorts(t, false)
	p := startMonPeer(t, eng, ours, 0)
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours})
	p.in.waitFor(t, "3 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 3 })
	checkConsecutive(t, p.probeSeqs(), 1)
	if ev := p.in.events; len(ev) == 0 || ev[0] != "accept" {
		t.Fatalf("events %v", ev)
	}
	// Our process "restarts": the mon reconnects with cs>0, we have no
	// session → RESETSESSION → cs 0 → probes start again at 1.
	shutdownT(p.m)
	p2 := startMonPeer(t, eng, ours, 0)
	defer shutdownT(p2.m)
	p2.in.waitFor(t, "probes after restart", 10*time.Second, func() bool { return len(p2.probeSeqsLocked()) >= 2 })
	checkConsecutive(t, p2.probeSeqs(), 1)
	if mon.CountLog("connect got RESETSESSION") == 0 {
		t.Fatal("mon did not log RESETSESSION")
	}
	checkMonLog(t, mon)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// CephMonPeerResend: we stop reading (a held dispatcher and a message
// throttle of 1) while probes pile up unacked, then drop the socket: the
// mon reconnects with connect_seq+1, learns our in_seq in the SEQ exchange
// and resends exactly the unacked probes with their original seqs. Then,
// with everything acked, a dropped socket sends the mon to standby; its
// next probe reconnects with the same connect_seq and gets RETRY_SESSION.
func CephMonPeerResend(t *testing.T, eng engine.Engine) {
	requireCephMon(t)
	monAddr, ours := monPorts(t, false)
	gate := make(chan struct{})
	p := startMonPeerGated(t, eng, ours, 0, gate, "stateful_server")
	defer shutdownT(p.m)
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours, ExtraConf: slowProbes})
	p.in.waitFor(t, "first probe", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 1 })
	time.Sleep(3 * slowProbePeriod) // probes pile up unread
	conns := p.m.Endpoint().Sessions()
	if len(conns) != 1 {
		t.Fatalf("%d sessions", len(conns))
	}
	s := conns[0]
	cs0, _, in0 := s.SeqState()
	s.InjectFault()
	close(gate)
	p.in.waitFor(t, "resent probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 5 })
	checkConsecutive(t, p.probeSeqs(), 1)
	cs1, _, _ := s.SeqState()
	if in0 != 1 || cs1 != cs0+2 {
		t.Fatalf("before the drop in_seq %d cs %d; after cs %d (want in_seq 1, cs+2)", in0, cs0, cs1)
	}
	if mon.CountLog("fault initiating reconnect") == 0 || mon.CountLog("requeue_sent") == 0 {
		t.Fatalf("mon did not requeue its unacked probes:\n%s", mon.LogTail(30))
	}
	// With everything acked, a drop sends the mon to standby; its next
	// probe comes back with the same cs → RETRY_SESSION → replace. A
	// probe the mon wrote but has no ACK for at the drop would take the
	// cs+1 path instead (checked above), so drop only once it has none.
	p.quiesce(t, s)
	retries := mon.CountLog("connect got RETRY_SESSION")
	p.dropToStandby(t, mon, s)
	n := len(p.probeSeqs())
	p.in.waitFor(t, "probes after standby", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= n+2 })
	checkConsecutive(t, p.probeSeqs(), 1)
	if mon.CountLog("connect got RETRY_SESSION") == retries {
		t.Fatalf("no RETRY_SESSION after standby:\n%s", mon.LogTail(30))
	}
	checkMonLog(t, mon)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// CephMonPeerInjected: random socket failures on our side for a few
// seconds (probes every 0.05 s): the mon reconnects (cs+1 with unacked
// probes, standby → RETRY_SESSION otherwise) and resends; we receive every
// seq exactly once, in order, and the mon stays alive.
//
// policy is our policy for the MON peer: "stateful_server" (we only
// accept; mon.a always reconnects) or "lossless_peer_reuse" (as a real
// mon: both sides redial after a fault and the connect races resolve).
func CephMonPeerInjected(t *testing.T, eng engine.Engine, d time.Duration, policy string) {
	requireCephMon(t)
	monAddr, ours := monPorts(t, false)
	p := startMonPeerGated(t, eng, ours, 4, nil, policy)
	defer shutdownT(p.m)
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours,
		ExtraConf: map[string]string{"mon_probe_timeout": "0.05"}})
	time.Sleep(d) // the soak's length; no result is awaited here
	p.in.waitFor(t, "10 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 10 })
	// Injection goes on: a slower stack (dpdk) may need longer than d
	// for the mon to get two reconnects through it.
	p.in.waitFor(t, "3 sessions opened", 10*time.Second, func() bool { return p.m.Endpoint().C.SessionsOpened.Load() >= 3 })
	seqs := p.probeSeqs()
	checkConsecutive(t, seqs, 1)
	inj := p.m.Endpoint().C.InjectedFailures.Load()
	t.Logf("%d probes, %d injected failures, %d duplicates dropped, %d dials to mon.a, mon logged %d RETRY_SESSION",
		len(seqs), inj, p.m.Endpoint().C.DuplicatesDropped.Load(), p.m.Endpoint().C.Connects.Load(), mon.CountLog("RETRY_SESSION"))
	checkMonLog(t, mon)
	if inj == 0 || p.m.Endpoint().C.SessionsOpened.Load() < 3 {
		t.Fatalf("injected %d, sessions opened %d: the soak did not reconnect", inj, p.m.Endpoint().C.SessionsOpened.Load())
	}
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// checkMonLog fails on the mon's own complaints: a duplicate we sent (which
// stalls a Pacific reader, §16 #21) or an assertion.
func checkMonLog(t *testing.T, mon *peers.CephMon) {
	t.Helper()
	for _, bad := range []string{"got old message", "FAILED ceph_assert"} {
		if n := mon.CountLog(bad); n > 0 {
			t.Fatalf("mon.a logged %d × %q:\n%s", n, bad, mon.LogTail(20))
		}
	}
}

func (p *monPeer) probeSeqsLocked() []uint64 {
	var s []uint64
	for _, m := range p.in.msgs {
		if m.Type == MsgMonProbe {
			s = append(s, m.Seq)
		}
	}
	return s
}

// CephMonPeerDialBack: our side of the mon↔mon session redials mon.a
// (policy lossless_peer_reuse, as a real mon.b): after our socket drops,
// a queued KEEPALIVE2 makes our standby session connect to mon.a's
// acceptor, whose replace logic (RETRY_SESSION / RETRY_GLOBAL) we follow;
// the KEEPALIVE2 is answered and probes continue, each seq exactly once.
//
// Who dials first is a real race, settled here so that it is ours: the
// socket drops while the mon has nothing unacked (it parks in standby
// instead of redialling at once with cs+1), we dial well before its next
// probe, and our address is the lower one, so a mon dial that still
// crosses ours with the same cs loses at both ends (§11.4).
func CephMonPeerDialBack(t *testing.T, eng engine.Engine) {
	requireCephMon(t)
	monAddr, ours := monPorts(t, true)
	p := startMonPeerGated(t, eng, ours, 0, nil, "lossless_peer_reuse")
	defer shutdownT(p.m)
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours, ExtraConf: slowProbes})
	p.in.waitFor(t, "3 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 3 })
	ss := p.m.Endpoint().Sessions()
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	p.quiesce(t, s)
	p.dropToStandby(t, mon, s)
	if st := s.State(); st != "standby" {
		t.Fatalf("after the drop our session is %s, want standby (nothing to send)", st)
	}
	dials := p.m.Endpoint().C.Connects.Load()
	p.in.mu.Lock()
	ev0 := len(p.in.events)
	p.in.mu.Unlock()
	ka := s.LastKeepaliveAck()
	s.SendKeepalive()
	p.in.waitFor(t, "KEEPALIVE2_ACK over our dial", 10*time.Second, func() bool { return !s.LastKeepaliveAck().Equal(ka) })
	// Connect events come through the dispatch queue, maybe after the ack.
	p.in.waitFor(t, "the open event", 5*time.Second, func() bool { return len(p.in.events) > ev0 })
	p.in.mu.Lock()
	after := append([]string(nil), p.in.events[ev0:]...)
	p.in.mu.Unlock()
	// The KEEPALIVE2 waits in the session until a socket opens; the first
	// one to open after it was queued must be our dial ("connect").
	if p.m.Endpoint().C.Connects.Load() == dials || len(after) == 0 || after[0] != "connect" {
		t.Fatalf("dials %d→%d, events since the keepalive %v: the KEEPALIVE2 did not go over our dial",
			dials, p.m.Endpoint().C.Connects.Load(), after)
	}
	n := len(p.probeSeqs())
	p.in.waitFor(t, "more probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= n+2 })
	checkConsecutive(t, p.probeSeqs(), 1)
	t.Logf("dials %d→%d, state %s, probes %d", dials, p.m.Endpoint().C.Connects.Load(), s.State(), len(p.probeSeqs()))
	checkMonLog(t, mon)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// slowProbes makes the mon probe every slowProbePeriod: long enough that
// the steps quiesce and a drop take (milliseconds, more under load) end
// well before the mon's next probe.
var slowProbes = map[string]string{"mon_probe_timeout": "0.5"}

const slowProbePeriod = 500 * time.Millisecond

// quiesce returns at a moment when the mon has no probe it has not seen
// ACKed: right after a fresh probe (the next is a probe period away) we
// make a KEEPALIVE2 round trip. Our ACK for that probe is written with the
// KEEPALIVE2 or before it, so the mon reads it before anything that
// follows (a FIN included). If another probe arrived meanwhile, we start
// over with the next one.
func (p *monPeer) quiesce(t *testing.T, s *protocol.Session) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := len(p.probeSeqs())
		p.in.waitFor(t, "a fresh probe", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) > n })
		n = len(p.probeSeqs())
		ka := s.LastKeepaliveAck()
		s.SendKeepalive()
		p.in.waitFor(t, "KEEPALIVE2_ACK", 10*time.Second, func() bool { return !s.LastKeepaliveAck().Equal(ka) })
		if len(p.probeSeqs()) == n {
			return
		}
	}
	t.Fatal("no quiet moment between the mon's probes")
}

// dropToStandby closes our socket (after quiesce) and waits until both
// sides have handled it: our side has run its fault policy and the mon
// logged that it parked in standby with nothing to send, not that it
// reconnects at once.
func (p *monPeer) dropToStandby(t *testing.T, mon *peers.CephMon, s *protocol.Session) {
	t.Helper()
	const parked, redial = "fault with nothing to send, going to standby", "fault initiating reconnect"
	standby, reconnects := mon.CountLog(parked), mon.CountLog(redial)
	faults := p.m.Endpoint().C.Faults.Load()
	s.InjectFault()
	if err := mon.WaitLog(parked, standby+1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := mon.CountLog(redial); n != reconnects {
		t.Fatalf("the mon reconnected at once (an unacked probe) instead of parking:\n%s", mon.LogTail(30))
	}
	p.in.waitFor(t, "our fault handled", 5*time.Second, func() bool { return p.m.Endpoint().C.Faults.Load() > faults })
}
