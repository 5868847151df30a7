package dpdknet

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSlots: slots are disjoint /30s of 192.0.2.0/24 with distinct taps,
// and their flags name them.
func TestSlots(t *testing.T) {
	p := NewPool(Slots)
	seen := map[string]bool{}
	var got []*Slot
	for range Slots {
		s, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
		for _, k := range []string{s.Iface, s.Kernel.Addr().String(), s.Addr()} {
			if seen[k] {
				t.Fatalf("slot %d reuses %s", s.Index, k)
			}
			seen[k] = true
		}
		if s.Kernel.Masked() != s.Stack.Masked() || s.Kernel.Bits() != 30 || s.Kernel.Addr() == s.Stack.Addr() {
			t.Fatalf("slot %d: kernel %s stack %s not one /30", s.Index, s.Kernel, s.Stack)
		}
	}
	if last := got[Slots-1]; last.Addr() != "192.0.2.254" {
		t.Errorf("last slot stack %s, want 192.0.2.254", last.Addr())
	}
	if f := got[1].Flags(); !slices.Equal(f, []string{"--tap=nmtap1", "--ip=192.0.2.6/30", "--gw=192.0.2.5", "--tap-peer=192.0.2.5/30"}) {
		t.Errorf("flags %q", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); err == nil {
		t.Fatal("acquired from an empty pool")
	}
	got[3].Release()
	if s, err := p.Acquire(context.Background()); err != nil || s.Index != 3 {
		t.Fatalf("after release got %v, %v", s, err)
	}
}

// TestSetupRefusesOutsideNetns: Setup never touches the host's network.
func TestSetupRefusesOutsideNetns(t *testing.T) {
	t.Setenv(envInNetns, "")
	if err := Setup(); err == nil {
		t.Fatal("Setup ran outside the private namespace")
	}
}

// TestTapPeerUnset: without --tap-peer nothing is configured (no command
// runs, so this is safe outside a namespace).
func TestTapPeerUnset(t *testing.T) {
	if err := (TapPeer{Iface: "nmtap0", MTU: 9000}).Configure(); err != nil {
		t.Fatal(err)
	}
}
