//go:build dpdk

package dpdkengine

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The DPDK tests run in a private network namespace the test binary
// creates for itself: TestMain re-executes the binary under `unshare --net`
// (root needed, as for any tap device), and inside it starts the runtime on
// a net_tap vdev and gives the tap's kernel side 192.0.2.1/24 with IPv4
// forwarding on. The kernel side is both a peer (kernel clients dial the
// engine) and the router that sends the engine's traffic to itself back in
// (see NewNetstack), so every kit connection crosses DPDK in both
// directions. Kernel peers the engine dials (the proxy kit's backends,
// haproxy) listen on hostAddr, on the namespace's lo. Only documentation
// addresses are used.

const (
	nsEnv     = "NETMODELS_DPDK_IN_NETNS"
	tapName   = "dtap0"
	stackAddr = "192.0.2.2"
	peerAddr  = "192.0.2.1"
	// hostAddr is a kernel address on the namespace's lo that the stack
	// reaches through the tap: kernel servers of the proxy kit and
	// haproxy bind it (the kernel's 127.0.0.1 is out of the stack's reach).
	hostAddr = "198.51.100.1"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role)) // a second DPDK process (memif_dpdk_test.go)
	}
	if os.Getenv(nsEnv) != "1" {
		os.Exit(reexecInNetns())
	}
	if err := setupTopology(); err != nil {
		fmt.Fprintf(os.Stderr, "dpdk test topology: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	Teardown()
	os.Exit(code)
}

func reexecInNetns() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "dpdk tests need root (a private network namespace and a tap device); run as root or without -tags dpdk")
		return 1
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "unshare --net: %v\n", err)
		return 1
	}
	return 0
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func setupTopology() error {
	if err := sh("ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	eal := DefaultEAL(tapName)
	eal[len(eal)-1] += ",mac=02:00:00:00:02:02"
	o, err := OptionsFromEnv() // NETMODELS_DPDK_POLL picks the idle policy
	if err != nil {
		return err
	}
	o.EAL, o.Addr, o.Gateway = eal, netip.MustParsePrefix(stackAddr+"/24"), netip.MustParseAddr(peerAddr)
	if err := Configure(o); err != nil {
		return err
	}
	if _, err := DefaultRuntime(); err != nil {
		return err
	}
	for _, cmd := range [][]string{
		{"ip", "addr", "add", hostAddr + "/32", "dev", "lo"},
		{"ip", "addr", "add", peerAddr + "/24", "dev", tapName},
		{"ip", "link", "set", tapName, "up"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"},
		{"sysctl", "-qw", "net.ipv4.conf." + tapName + ".send_redirects=0"},
	} {
		if err := sh(cmd...); err != nil {
			return err
		}
	}
	return nil
}
