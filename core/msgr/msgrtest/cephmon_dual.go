package msgrtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
)

// CephMonPeerDualBind: our server (mon.b) listens on msgr1 and msgr2, and
// the monmap lists it with both addresses, [v2:...,v1:...], as Ceph
// lists a daemon bound to both. A real mon that speaks msgr1 only takes
// the v1 entry and probes us there as its lossless peer: our msgr1
// banner must announce that v1 address, not the v2 one (its connector
// refuses a server whose banner claims another address), and the probes
// arrive over msgr1, each seq once, in order.
func CephMonPeerDualBind(t *testing.T, eng engine.Engine) {
	requireCephMon(t)
	monAddr, ours := monPorts(t, false)
	ports, err := peers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port2 := ports[0]
	if OurFreePort != nil {
		port2 = OurFreePort(t)
	}
	ours2 := fmt.Sprintf("%s:%d", OurHost, port2)
	p := startMonPeer(t, eng, ours, 0)
	defer shutdownT(p.m)
	if err := p.m.Bind("v2:" + ours2); err != nil {
		t.Fatal(err)
	}
	as := p.m.Addrs()
	if len(as) != 2 || as[0].TypedString() != "v2:"+ours2+"/0" || as[1].TypedString() != "v1:"+ours+"/0" {
		t.Fatalf("our address vector %v, want [v2:%s/0 v1:%s/0]", as, ours2, ours)
	}
	mon := peers.StartCephMonT(t, peers.CephMonOptions{Addr: monAddr, PeerMonAddr: ours, PeerMonV2Addr: ours2})
	p.in.waitFor(t, "3 probes", 10*time.Second, func() bool { return len(p.probeSeqsLocked()) >= 3 })
	checkConsecutive(t, p.probeSeqs(), 1)
	p.in.mu.Lock()
	for _, m := range p.in.msgs {
		if m.Conn.Msgr2() || m.Src.Type != wire.EntityMon {
			p.in.mu.Unlock()
			t.Fatalf("a message from %s over msgr2 %v, want the mon over msgr1", m.Src, m.Conn.Msgr2())
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
