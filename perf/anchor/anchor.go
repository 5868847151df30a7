// Package anchor starts the real peers the engines are measured against in
// the same run: HAProxy (with the very config file our proxies read), a
// one-monitor ceph-mon on loopback speaking msgr1, and a real ceph-osd in
// a cluster of its own, all through core/peers.
// Each returns a process the scenario measures and stops by PID.
package anchor

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/core/supervise"
)

// Host is the address the anchors listen on and FreePort probes:
// loopback, or the DPDK topology's host address (core/dpdknet) when the
// harness runs inside its namespace. Set it before starting anything.
var Host = "127.0.0.1"

// Listen is how FreePort probes: net.Listen, or a core/netsim side's
// Listen when the anchors run in that side's namespace (two-hosts), where
// a port free on the host's loopback says nothing.
var Listen = net.Listen

// Place, when set, wraps an anchor's process spec before it starts (a
// core/netsim side's Spec: the anchor runs in that namespace).
var Place func(supervise.Spec) supervise.Spec

// FreePort returns a port on Host that Listen could bind a moment ago,
// below the kernel's ephemeral range (peers.PickPort: the load
// generators' connections take their source ports from that range).
// Another process can still take it before the caller binds it; callers
// that can read a READY line should prefer :0.
func FreePort() (int, error) { return peers.PickPort(Listen, Host) }

// CPUs is the pin set for a CPU number: nil (not pinned) when cpu < 0.
func CPUs(cpu int) []int {
	if cpu < 0 {
		return nil
	}
	return []int{cpu}
}

// Version runs `name flag` and returns its first output line.
func Version(name string, flag string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := supervise.Run(ctx, supervise.Spec{Path: path, Args: []string{flag}})
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("exit status %d: %s", r.Code, supervise.Gist(r.Stderr))
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, flag, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(r.Stdout+"\n"+r.Stderr), "\n")
	return line, nil
}
