package main

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// TestEngineFlags: engine flags are taken out wherever they are, the rest
// is left for the shared CLI in order.
func TestEngineFlags(t *testing.T) {
	o, rest, err := engineFlags([]string{"msgr-server", "--poll=spin", "--listen=127.0.0.1:0", "--ip=198.51.100.2/24", "--gw=198.51.100.1", "--eal=--no-huge -l 1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Poll != link.Spin || o.Addr != netip.MustParsePrefix("198.51.100.2/24") || o.Gateway != netip.MustParseAddr("198.51.100.1") || !slices.Equal(o.EAL, []string{"--no-huge", "-l", "1"}) {
		t.Errorf("options = %+v", o)
	}
	if !slices.Equal(rest, []string{"msgr-server", "--listen=127.0.0.1:0"}) {
		t.Errorf("rest = %q", rest)
	}
	for _, bad := range []string{"--poll=busy", "--ip=300.1.1.1/24", "--gw=x"} {
		if _, _, err := engineFlags([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
