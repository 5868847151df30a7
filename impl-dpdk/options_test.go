package dpdkengine

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// TestOptionsFromEnv: the NETMODELS_DPDK_* variables go through Set, as
// bin/dpdk's flags do, and a bad one is named in the error.
func TestOptionsFromEnv(t *testing.T) {
	t.Setenv("NETMODELS_DPDK_EAL", "--no-huge -l 1")
	t.Setenv("NETMODELS_DPDK_ADDR", "198.51.100.2/24")
	t.Setenv("NETMODELS_DPDK_GW", "198.51.100.1")
	t.Setenv("NETMODELS_DPDK_POLL", "spin")
	o, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.EAL, []string{"--no-huge", "-l", "1"}) || o.Addr != netip.MustParsePrefix("198.51.100.2/24") || o.Gateway != netip.MustParseAddr("198.51.100.1") || o.Poll != link.Spin {
		t.Errorf("options = %+v", o)
	}
	for _, name := range []string{"NETMODELS_DPDK_ADDR", "NETMODELS_DPDK_GW", "NETMODELS_DPDK_POLL"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "bad")
			if _, err := OptionsFromEnv(); err == nil || !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("%s=bad: err %v", name, err)
			}
		})
	}
	if err := new(Options).Set("mtu", "9000"); err == nil {
		t.Error("Set accepted an unknown option")
	}
}
