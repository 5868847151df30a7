package peers

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestParsePortRangeLow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		lo   int
		okay bool
	}{
		{"32768\t60999\n", 32768, true},
		{"1024 65535", 1024, true},
		{"", 0, false},
		{"32768", 0, false},
		{"a b", 0, false},
		{"0 10", 0, false},
		{"70000 80000", 0, false},
	} {
		lo, ok := parsePortRangeLow(tc.in)
		if lo != tc.lo || ok != tc.okay {
			t.Errorf("parsePortRangeLow(%q) = %d, %v; want %d, %v", tc.in, lo, ok, tc.lo, tc.okay)
		}
	}
}

// The port comes from below the ephemeral range, where no connect takes
// a source port, and it could be bound.
func TestPickPortBelowEphemeral(t *testing.T) {
	lo, ok := ephemeralLow()
	if !ok || lo-pickFloor < 1024 {
		t.Skipf("no room below the ephemeral range (%d, %v): PickPort falls back to :0", lo, ok)
	}
	seen := map[int]bool{}
	for range 20 {
		p, err := PickPort(net.Listen, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if p < pickFloor || p >= lo {
			t.Fatalf("port %d outside [%d, %d)", p, pickFloor, lo)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		l.Close()
		seen[p] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 picks gave %d distinct ports: not random", len(seen))
	}
}

// When every pick is taken, :0 still answers.
func TestPickPortFallsBack(t *testing.T) {
	var asked []string
	listen := func(network, addr string) (net.Listener, error) {
		asked = append(asked, addr)
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			return nil, errors.New("in use")
		}
		return net.Listen(network, addr)
	}
	p, err := PickPort(listen, "127.0.0.1")
	if err != nil || p == 0 {
		t.Fatalf("PickPort = %d, %v", p, err)
	}
	if last := asked[len(asked)-1]; last != "127.0.0.1:0" {
		t.Fatalf("last try %q, want :0", last)
	}
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || !(ports[0] < ports[1] && ports[1] < ports[2]) {
		t.Fatalf("FreePorts(3) = %v, %v: want 3 distinct ascending", ports, err)
	}
}
