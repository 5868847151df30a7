// Package anchor starts the real peers the engines are measured against in
// the same run: HAProxy (with the very config file our proxies read) and a
// one-monitor ceph-mon on loopback speaking msgr1. Each returns a
// proc.Process the scenario measures and stops by PID.
package anchor

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Host is the address the anchors listen on and FreePort probes:
// loopback, or the DPDK topology's host address (core/dpdknet) when the
// harness runs inside its namespace. Set it before starting anything.
var Host = "127.0.0.1"

// FreePort returns a port on Host the kernel just handed out (bind :0,
// close). Another process can take it before the caller binds it; callers
// that can read a READY line should prefer :0.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls until addr accepts a TCP connection: HAProxy and
// ceph-mon print no READY line, so the listening socket is their signal.
// The poll interval is short and bounded by timeout.
func waitListening(addr string, timeout time.Duration, exited func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited() {
			return fmt.Errorf("exited before listening on %s", addr)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after %v", addr, timeout)
}

// waitLogLine polls the file at path until it contains line: ceph-mon says
// it is ready only in its log. The file may not exist yet.
func waitLogLine(path, line string, timeout time.Duration, exited func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited() {
			return fmt.Errorf("exited before logging %q", line)
		}
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), line) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no %q in %s after %v", line, path, timeout)
}

// Version runs `name flag` and returns its first output line.
func Version(name string, flag string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, flag).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, flag, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line, nil
}
