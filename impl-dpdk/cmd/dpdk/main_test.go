package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/dpdknet"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// TestEngineFlags: engine flags are taken out wherever they are, the rest
// is left for the shared CLI in order.
func TestEngineFlags(t *testing.T) {
	o, peer, rest, err := engineFlags([]string{"msgr-server", "--poll=spin", "--listen=127.0.0.1:0", "--ip=198.51.100.2/24", "--gw=198.51.100.1", "--eal=--no-huge -l 1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Poll != link.Spin || o.Addr != netip.MustParsePrefix("198.51.100.2/24") || o.Gateway != netip.MustParseAddr("198.51.100.1") || !slices.Equal(o.EAL, []string{"--no-huge", "-l", "1"}) {
		t.Errorf("options = %+v", o)
	}
	if !slices.Equal(rest, []string{"msgr-server", "--listen=127.0.0.1:0"}) {
		t.Errorf("rest = %q", rest)
	}
	o, peer, rest, err = engineFlags([]string{"proxy", "--tap=nmtap7", "--tap-peer=192.0.2.29/30", "-f", "x.cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(o.EAL, "--vdev=net_tap0,iface=nmtap7") || peer != (dpdknet.TapPeer{Iface: "nmtap7", Prefix: netip.MustParsePrefix("192.0.2.29/30")}) {
		t.Errorf("--tap/--tap-peer: EAL %q, peer %+v", o.EAL, peer)
	}
	if !slices.Equal(rest, []string{"proxy", "-f", "x.cfg"}) {
		t.Errorf("rest = %q", rest)
	}
	o, peer, rest, err = engineFlags([]string{"msgr-client", "--memif=client,/tmp/x/memif.sock", "--ip=203.0.113.2/24", "--mtu=9000", "--connect=203.0.113.1:6800"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(o.EAL, "--vdev=net_memif0,role=client,socket=/tmp/x/memif.sock,socket-abstract=no,bsize=9216") || slices.ContainsFunc(o.EAL, func(a string) bool { return strings.Contains(a, "net_tap") }) {
		t.Errorf("--memif: EAL %q", o.EAL)
	}
	if o.Gateway.IsValid() || o.NoLinkWait || o.MTU != 9000 || o.Addr != netip.MustParsePrefix("203.0.113.2/24") {
		t.Errorf("--memif client: %+v", o)
	}
	if !slices.Equal(rest, []string{"msgr-client", "--connect=203.0.113.1:6800"}) {
		t.Errorf("rest = %q", rest)
	}
	// A memif server answers READY before its peer connects.
	if o, _, _, err = engineFlags([]string{"--memif=server,/s"}); err != nil || !o.NoLinkWait {
		t.Errorf("--memif=server: NoLinkWait %v, err %v", o.NoLinkWait, err)
	}
	if _, peer, _, err = engineFlags([]string{"--tap=nmtap1", "--tap-peer=192.0.2.5/30", "--mtu=9000"}); err != nil || peer.MTU != 9000 {
		t.Errorf("--mtu with --tap-peer: kernel side mtu %d, err %v", peer.MTU, err)
	}
	for _, bad := range []string{"--mtu=100", "--mtu=x", "--mtu=65536", "--memif=peer,/s", "--memif=server", "--memif=client,", "--poll=busy", "--ip=300.1.1.1/24", "--gw=x", "--tap=", "--tap=a,b", "--tap-peer=192.0.2.1", "--tap-peer=2001:db8::1/64"} {
		if _, _, _, err := engineFlags([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
