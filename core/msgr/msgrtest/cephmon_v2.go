package msgrtest

import (
	"slices"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
	"github.com/netmodels/netmodels/core/peers"
)

// CephMonClientV2: our messenger's msgr2 client → a real mon's v2 port
// (Debian 16.2, msgr2.1 crc mode, auth none), lossy_client as `msgr-client
// --protocol v2 --peer-type mon --policy lossy_client --count 0` runs it:
// the handshake (auth none to a monitor: AUTH_MODE_MON, the mon assigns
// our global_id), a KEEPALIVE2 round trip, and one message each way
// (MMonGetVersion → MMonGetVersionReply). The mon checks every frame's
// crcs and closes on one it refuses, which would fail the waits. It fails,
// never skips, without ceph-mon.
func CephMonClientV2(t *testing.T, eng engine.Engine) {
	mon := peers.StartCephMonV2HostT(t, MonHost)
	m, err := msgr.New(eng, msgr.Config{Name: "client.-1", AuthNoneID: "admin", RandomNonce: true,
		Policy: "lossy_client", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	_ = m.Start(in)
	defer shutdownT(m)
	conn, err := m.ConnectTo(wire.EntityMon, "v2:"+mon.V2Addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	in.waitFor(t, "handshake", 10*time.Second, func() bool { return len(in.events) > 0 })
	in.mu.Lock()
	events := slices.Clone(in.events)
	in.mu.Unlock()
	if !slices.Equal(events, []string{"connect"}) || !conn.IsOpen() || !conn.Msgr2() || !conn.Lossy() ||
		conn.Features()&wire2.FeatureMsgAddr2 == 0 {
		t.Fatalf("events %v, state %s, msgr2 %v, lossy %v, features %#x", events, conn.State(), conn.Msgr2(), conn.Lossy(), conn.Features())
	}
	// The mon answers KEEPALIVE2 as it reads it, so its ack is in before
	// the reply to a message sent after it (no callback exists for the
	// ack itself).
	conn.SendKeepalive()
	gr := in.monGetVersion(t, conn)
	if gr.Seq != 1 || gr.Src.Type != wire.EntityMon {
		t.Fatalf("reply seq %d src %v", gr.Seq, gr.Src)
	}
	if conn.LastKeepaliveAck().IsZero() {
		t.Fatal("no KEEPALIVE2_ACK before the reply")
	}
	if _, out, _ := conn.SeqState(); out != 1 {
		t.Fatalf("out_seq %d", out)
	}
	if c := m.Endpoint().C; c.BadInput.Load() != 0 || c.Faults.Load() != 0 {
		t.Fatalf("bad input %d, faults %d", c.BadInput.Load(), c.Faults.Load())
	}
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}
