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
func waitListening(addr string, timeout time.Duration, exited func() bool) error {
	return waitUntil("listening on "+addr, timeout, exited, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitLogLine polls the file at path until it contains line: ceph-mon says
// it is ready only in its log. The file may not exist yet.
func waitLogLine(path, line string, timeout time.Duration, exited func() bool) error {
	return waitUntil(fmt.Sprintf("logging %q in %s", line, path), timeout, exited, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), line)
	})
}

// waitUntil polls ready every few milliseconds until it holds, the process
// exits or timeout passes; what names the wait in the error.
func waitUntil(what string, timeout time.Duration, exited func() bool, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited() {
			return fmt.Errorf("exited before %s", what)
		}
		if ready() {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("not %s after %v", what, timeout)
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
