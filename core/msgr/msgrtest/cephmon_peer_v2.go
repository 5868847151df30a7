package msgrtest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
)

// A real ceph-mon as the lossless msgr2 peer of our server: mon.a's
// monmap lists mon.b at [v2:OURS/0], so mon.a (bound on v1 and v2) dials
// it over msgr2 with its mon↔mon policy (lossless_peer_reuse) and probes
// it. A real monitor treats clients as lossy; its mon peers are the
// lossless msgr2 sessions it has.

// monPortsV2 returns mon.a's v1 and v2 addresses and ours on free ports,
// mon.a's the lower (rank 0).
func monPortsV2(t *testing.T) (monV1, monV2, ours string) {
	ps, err := peers.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(ps)
	if OurFreePort != nil {
		ps[2] = OurFreePort(t)
	}
	return fmt.Sprintf("%s:%d", MonHost, ps[0]), fmt.Sprintf("%s:%d", MonHost, ps[1]), fmt.Sprintf("%s:%d", OurHost, ps[2])
}

// startMonPeerV2 is startMonPeerGated over msgr2: our mon.b (nonce 0)
// bound at v2:addr, policy for mon peers as given.
func startMonPeerV2(t *testing.T, eng engine.Engine, addr string, inject int, policy string) *monPeer {
	pol, _ := msgr.PolicyByName(policy)
	pol.FeaturesSupported = wire.FeaturesAll
	m, err := msgr.New(eng, msgr.Config{Name: "mon.1", Nonce: 0, AuthNoneID: "b", Policy: "stateful_server",
		PeerPolicies: map[wire.EntityType]msgr.Policy{wire.EntityMon: pol}, InjectSocketFailures: inject,
		Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	_ = m.Start(in)
	if err := m.Bind("v2:" + addr); err != nil {
		t.Fatal(err)
	}
	return &monPeer{m: m, in: in, addr: addr}
}

func startMonV2(t *testing.T, monV1, monV2, ours string, extra map[string]string) *peers.CephMon {
	return peers.StartCephMonT(t, peers.CephMonOptions{Addr: monV1, V2Addr: monV2, PeerMonAddr: ours, PeerMonV2: true,
		ExtraConf: extra})
}

// CephMonPeerV2: mon.a opens a lossless msgr2 session with our server and
// probes it (seq 1, 2, ...; we ACK). We drop the socket with everything
// acknowledged or not: mon.a resumes the session with SESSION_RECONNECT,
// our SESSION_RECONNECT_OK tells it our in_seq, and the probes go on,
// each seq exactly once. Then our server restarts (no session memory):
// mon.a's SESSION_RECONNECT gets SESSION_RESET, it starts a new session
// with CLIENT_IDENT and its probes start again at seq 1.
func CephMonPeerV2(t *testing.T, eng engine.Engine) {
	requireCephMon(t)
	monV1, monV2, ours := monPortsV2(t)
	p := startMonPeerV2(t, eng, ours, 0, "stateful_server")
	mon := startMonV2(t, monV1, monV2, ours, nil)
	p.in.waitFor(t, "3 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 3 })
	checkConsecutive(t, p.probeSeqs(), 1)
	ss := p.m.Endpoint().Sessions()
	if len(ss) != 1 || !ss[0].Msgr2() || ss[0].Lossy() {
		t.Fatalf("sessions %d: want one lossless msgr2 session", len(ss))
	}
	for i := 0; i < 3; i++ {
		n := len(p.probeSeqs())
		ss[0].InjectFault()
		p.in.waitFor(t, "probes after the drop", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= n+2 })
	}
	checkConsecutive(t, p.probeSeqs(), 1)
	if n := mon.CountLog("reconnect accepted"); n == 0 {
		t.Fatalf("mon.a never resumed with SESSION_RECONNECT_OK:\n%s", mon.LogTail(40))
	}
	if len(p.m.Endpoint().Sessions()) != 1 || p.m.Endpoint().C.BadInput.Load() != 0 {
		t.Fatalf("sessions %d, bad input %d", len(p.m.Endpoint().Sessions()), p.m.Endpoint().C.BadInput.Load())
	}

	shutdownT(p.m)
	p2 := startMonPeerV2(t, eng, ours, 0, "stateful_server")
	defer shutdownT(p2.m)
	p2.in.waitFor(t, "probes after our restart", 10*time.Second, func() bool { return len(p2.probeSeqsLocked()) >= 2 })
	checkConsecutive(t, p2.probeSeqs(), 1)
	if mon.CountLog("received session reset full=1") == 0 {
		t.Fatalf("mon.a did not log SESSION_RESET:\n%s", mon.LogTail(40))
	}
	checkMonLog(t, mon)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// CephMonPeerV2Injected: random socket failures on our side for d while
// mon.a probes every 0.05 s over msgr2: it resumes the session each time
// (SESSION_RECONNECT, RETRY if it must) and resends what we lack; we
// receive every seq exactly once, in order, and the mon stays alive.
// policy as in CephMonPeerInjected.
func CephMonPeerV2Injected(t *testing.T, eng engine.Engine, d time.Duration, policy string) {
	requireCephMon(t)
	monV1, monV2, ours := monPortsV2(t)
	p := startMonPeerV2(t, eng, ours, 4, policy)
	defer shutdownT(p.m)
	mon := startMonV2(t, monV1, monV2, ours, map[string]string{"mon_probe_timeout": "0.05"})
	time.Sleep(d) // the soak's length; no result is awaited here
	p.in.waitFor(t, "10 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 10 })
	p.in.waitFor(t, "3 sessions opened", 10*time.Second, func() bool { return p.m.Endpoint().C.SessionsOpened.Load() >= 3 })
	seqs := p.probeSeqs()
	checkConsecutive(t, seqs, 1)
	ep := p.m.Endpoint()
	t.Logf("%d probes, %d injected failures, %d sessions opened, %d duplicates dropped, %d dials to mon.a; mon.a logged %d RECONNECT_OK, %d RETRY, %d RESET",
		len(seqs), ep.C.InjectedFailures.Load(), ep.C.SessionsOpened.Load(), ep.C.DuplicatesDropped.Load(), ep.C.Connects.Load(),
		mon.CountLog("reconnect accepted"), mon.CountLog("received session retry"), mon.CountLog("received session reset"))
	checkMonLog(t, mon)
	if ep.C.InjectedFailures.Load() == 0 || mon.CountLog("reconnect accepted") == 0 {
		t.Fatalf("injected %d: the soak did not resume the session", ep.C.InjectedFailures.Load())
	}
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}
