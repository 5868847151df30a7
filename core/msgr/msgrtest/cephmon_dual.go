package msgrtest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
)

// CephMonPeerDualBind: our server (mon.b) listens on msgr1 and msgr2, and
// the monmap lists it with both addresses, [v2:...,v1:...], as Ceph
// lists a daemon bound to both. A real mon takes the entry its own bound
// protocols allow and probes us there as its lossless mon↔mon peer; the
// probes arrive over that protocol, each seq once, in order.
//
// monV2 false: mon.a speaks msgr1 only and takes the v1 entry; our msgr1
// banner must announce that v1 address, not the v2 one (its connector
// refuses a server whose banner claims another address: "connect claims
// to be"). monV2 true: mon.a is bound on both and takes the v2 entry; our
// SERVER_IDENT must list the address it targets.
func CephMonPeerDualBind(t *testing.T, eng engine.Engine, monV2 bool) {
	requireCephMon(t)
	ps, err := peers.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(ps) // mon.a's the lower: rank 0
	if OurFreePort != nil {
		ps[2], ps[3] = OurFreePort(t), OurFreePort(t)
	}
	monAddr, ours, ours2 := fmt.Sprintf("%s:%d", MonHost, ps[0]), fmt.Sprintf("%s:%d", OurHost, ps[2]), fmt.Sprintf("%s:%d", OurHost, ps[3])
	p := startMonPeerGated(t, eng, ours, 0, nil, "lossless_peer_reuse")
	defer shutdownT(p.m)
	if err := p.m.Bind("v2:" + ours2); err != nil {
		t.Fatal(err)
	}
	as := p.m.Addrs()
	if len(as) != 2 || as[0].TypedString() != "v2:"+ours2+"/0" || as[1].TypedString() != "v1:"+ours+"/0" {
		t.Fatalf("our address vector %v, want [v2:%s/0 v1:%s/0]", as, ours2, ours)
	}
	opts := peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours, PeerMonV2Addr: ours2}
	if monV2 {
		opts.V2Addr = fmt.Sprintf("%s:%d", MonHost, ps[1])
	}
	mon := peers.StartCephMonT(t, opts)
	p.in.waitFor(t, "3 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 3 })
	checkConsecutive(t, p.probeSeqs(), 1)
	p.in.mu.Lock()
	for _, m := range p.in.msgs {
		if m.Conn.Msgr2() != monV2 || m.Src.Type != wire.EntityMon {
			p.in.mu.Unlock()
			t.Fatalf("a message from %s over msgr2 %v, want the mon over msgr2 %v", m.Src, m.Conn.Msgr2(), monV2)
		}
	}
	p.in.mu.Unlock()
	if n := mon.CountLog("claims to be"); n > 0 {
		t.Fatalf("mon.a logged %d × \"claims to be\" (our banner named another address):\n%s", n, mon.LogTail(20))
	}
	checkMonLog(t, mon)
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}
