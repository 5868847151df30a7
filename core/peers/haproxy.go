package peers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// HAProxyBinary finds haproxy on PATH or in /usr/sbin (where Debian puts
// it, and which a non-root PATH often lacks).
func HAProxyBinary() (string, error) {
	return findBinary("haproxy", "haproxy")
}

// ErrNotInstalled wraps every "program not found" error: a caller can tell
// a missing package (nothing to retry) from a peer that failed.
var ErrNotInstalled = errors.New("not installed")

// findBinary looks for name on PATH, then in the sbin and bin directories.
func findBinary(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("peers: %s not found on PATH or in /usr/sbin, /usr/bin (%w): install the Debian package %s (apt-get install -y %s)", name, ErrNotInstalled, pkg, pkg)
}

// HAProxyOptions tune StartHAProxy.
type HAProxyOptions struct {
	// Dir holds haproxy.cfg and the log. Empty: a new temporary directory
	// that Stop removes.
	Dir string
	// WaitAddrs are the addresses that must be listening before
	// StartHAProxy returns. Nil: every TCP address on a "bind" line of the
	// config (UNIX sockets, abns@, fd@ and port ranges are not waited for).
	WaitAddrs []string
	// ReadyTimeout bounds the wait for WaitAddrs; 0 means
	// DefaultReadyTimeout. The "haproxy -c" before the start has its own
	// bound (runTool), so a short ReadyTimeout tests readiness, not how
	// fast a loaded machine runs the config check.
	ReadyTimeout time.Duration
	// ExtraArgs go on haproxy's command line before "-f".
	ExtraArgs []string
	// CPUs pins haproxy from its start (it sizes nbthread to the CPUs it
	// sees), as taskset would; nil: not pinned.
	CPUs []int
	// Place, when set, wraps the process's spec before it starts: a
	// core/netsim Side.Spec runs haproxy in that side's namespace (the
	// readiness wait reads the socket table of haproxy's own namespace).
	Place func(supervise.Spec) supervise.Spec
}

// StartHAProxy writes cfg to Dir/haproxy.cfg and runs "haproxy -db -f" on
// it in the foreground (-db: no daemon, no master process, so the PID is
// haproxy itself). It returns once haproxy listens on every bind address,
// or an error quoting its output (config errors are printed there).
// The config should bind 127.0.0.1 only. Logs: add "log stdout format raw
// local0" to the global section to have them in Process.Log.
func StartHAProxy(cfg string, opts HAProxyOptions) (*Process, error) {
	bin, err := HAProxyBinary()
	if err != nil {
		return nil, err
	}
	dir, own, err := workDir(opts.Dir, "haproxy")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		cleanupDir(dir, own)
		return nil, fmt.Errorf("peers: haproxy: %w", err)
	}
	waitAddrs := opts.WaitAddrs
	if waitAddrs == nil {
		waitAddrs = haproxyBindAddrs(cfg)
	}
	// "haproxy -c" first: a config error then comes back as haproxy's own
	// message, even for a config with nothing to wait for.
	if err := runTool(bin, "-c", "-f", cfgPath); err != nil {
		cleanupDir(dir, own)
		return nil, fmt.Errorf("peers: haproxy: config check failed: %w", err)
	}
	args := append(append([]string{"-db"}, opts.ExtraArgs...), "-f", cfgPath)
	p, err := spawnPlaced("haproxy", bin, args, dir, filepath.Join(dir, "haproxy.log"), "", opts.CPUs, opts.Place)
	if err != nil {
		cleanupDir(dir, own)
		return nil, err
	}
	p.ownDir = own
	if err := p.waitListening(waitAddrs, opts.ReadyTimeout); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// haproxyBindAddrs lists the TCP addresses of the config's bind lines.
func haproxyBindAddrs(cfg string) []string {
	var out []string
	for line := range strings.SplitSeq(cfg, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		if len(fs) < 2 || fs[0] != "bind" {
			continue
		}
		for a := range strings.SplitSeq(fs[1], ",") {
			for _, pre := range []string{"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"} {
				a = strings.TrimPrefix(a, pre)
			}
			if a == "" || strings.Contains(a, "@") || strings.HasPrefix(a, "/") {
				continue // unix@, abns@, fd@, sockpair@, paths
			}
			i := strings.LastIndexByte(a, ':')
			if i < 0 {
				continue
			}
			host, port := strings.Trim(a[:i], "[]"), a[i+1:]
			if strings.Contains(port, "-") {
				continue // port range
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			out = append(out, host+":"+port)
		}
	}
	return out
}

// runTool runs a short command (a config check, mkfs) to completion
// within DefaultReadyTimeout; a failure quotes its output. Its bound is
// not the caller's ReadyTimeout: that one is about the peer getting ready,
// and a tool on a loaded machine may legitimately take longer than a
// test's short readiness bound.
func runTool(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReadyTimeout)
	defer cancel()
	_, err := toolOutput(ctx, bin, args)
	return err
}

// workDir returns dir, or a new temporary directory (own=true) if empty.
func workDir(dir, name string) (string, bool, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", false, fmt.Errorf("peers: %s: %w", name, err)
		}
		return dir, false, nil
	}
	d, err := os.MkdirTemp("", "peers-"+name+"-")
	if err != nil {
		return "", false, fmt.Errorf("peers: %s: %w", name, err)
	}
	return d, true, nil
}

func cleanupDir(dir string, own bool) {
	if own {
		os.RemoveAll(dir)
	}
}
