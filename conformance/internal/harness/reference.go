package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/core/supervise"
)

// ReferenceName is the reference column of the proxy cases: real HAProxy
// 2.6 (Debian package haproxy) running the case's configuration text
// unchanged except for the ports of `bind HOST:0` lines (StartHAProxy).
const ReferenceName = "haproxy"

// Reference returns the reference engine: haproxy from PATH or /usr/sbin
// (core/peers), unless $REFERENCE is "none". An absent haproxy is an error
// (the suite reports it), never a silent skip: `make deps` installs it.
func Reference() (*Engine, error) {
	if os.Getenv("REFERENCE") == "none" {
		return nil, nil
	}
	bin, err := peers.HAProxyBinary()
	if err != nil {
		return nil, err
	}
	return &Engine{Name: ReferenceName, Path: bin, Reference: true}, nil
}

// errReference is what a case gets when it runs an engine's command line
// (harness.Start, Run, StartClient) on the reference: only startProxy's
// configuration maps onto haproxy; a case that needs more must be declared
// in unsupported.go.
var errReference = errors.New("this case runs an engine command line, which haproxy does not have; declare it for haproxy in internal/harness/unsupported.go with the reason")

// bindAttempts bounds the retries when a port picked for a `bind HOST:0`
// line was taken by a parallel case before haproxy bound it.
const bindAttempts = 3

// StartHAProxy runs cfg, a configuration written for `bin/<engine> proxy
// -f`, on haproxy in the foreground (`haproxy -db -dR -f`: no daemon, no master,
// so the PID held is haproxy itself) through core/supervise, and registers
// a Cleanup that stops it by PID. haproxy prints no READY line and cannot
// report a port it chose, so every `bind HOST:0` gets a port that was free
// a moment ago (retried when a parallel case took it meanwhile), and the
// start waits, bounded by ReadyTimeout, until the kernel's socket table
// shows haproxy's PID listening on every bind address (no probe
// connection: it would reach the case's backend counts). Proc.Addrs lists
// the bind addresses in configuration order, as the READY line does.
func StartHAProxy(t testing.TB, e Engine, cfg string) *Proc {
	t.Helper()
	dir := t.TempDir()
	var last error
	for range bindAttempts {
		text, addrs, err := assignBindPorts(cfg)
		if err != nil {
			t.Fatalf("haproxy: %v", err)
		}
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatalf("haproxy: %v", err)
		}
		p, err := startHAProxy(e, path, addrs)
		if err == nil {
			// What haproxy ignored or adjusted in the case's configuration
			// ("[WARNING] ... directive is ignored"): the cell passes or
			// fails without it, which the reader should know.
			for _, l := range strings.Split(p.Stderr(), "\n") {
				if (strings.Contains(l, "[WARNING]") || strings.Contains(l, "[ALERT]")) &&
					(strings.Contains(l, "parsing [") || strings.Contains(l, "config :")) {
					t.Logf("haproxy: %s", strings.TrimSpace(l))
				}
			}
			t.Cleanup(func() {
				// IgnoreStopStatus: haproxy's own exit status on SIGTERM is
				// not the contract's; an exit before Stop is a crash.
				if err := p.Stop(); err != nil {
					t.Errorf("haproxy: %v", err)
				}
			})
			return p
		}
		last = err
		if !retryable(err) {
			break
		}
	}
	t.Fatalf("start haproxy -f haproxy.cfg: %v", last)
	return nil
}

// retryable reports whether a failed start is a bind port taken between
// picking it and haproxy binding it.
func retryable(err error) bool {
	return strings.Contains(err.Error(), "cannot bind") || strings.Contains(err.Error(), "in use")
}

func startHAProxy(e Engine, path string, addrs []string) (*Proc, error) {
	// -dR: no SO_REUSEPORT. With it, two haproxy processes of parallel
	// cases that picked the same free port would both bind it and share
	// its connections; without it the second fails and retries.
	sp, err := supervise.Start(e.place(supervise.Spec{Name: "haproxy", Path: e.Path, Args: []string{"-db", "-dR", "-f", path},
		Dir: filepath.Dir(path), Capture: capture, Grace: StopTimeout, IgnoreStopStatus: true}))
	if err != nil {
		return nil, err
	}
	if err := sp.WaitListening(ReadyTimeout, addrs...); err != nil {
		_ = sp.Stop()
		return nil, fmt.Errorf("%w; stderr: %s", err, tail(sp.Stderr()))
	}
	return &Proc{Proc: sp, Addrs: addrs}, nil
}

// assignBindPorts returns cfg with every `bind HOST:0` given a free port of
// HOST, and the TCP addresses of all bind lines in order. UNIX sockets,
// abns@/fd@/sockpair@ and port ranges are left alone and not listed.
func assignBindPorts(cfg string) (string, []string, error) {
	lines := strings.Split(cfg, "\n")
	var addrs []string
	for i, line := range lines {
		fs := strings.Fields(stripComment(line))
		if len(fs) < 2 || fs[0] != "bind" {
			continue
		}
		var out []string
		for _, a := range strings.Split(fs[1], ",") {
			prefix, host, port, ok := splitBindAddr(a)
			if !ok {
				out = append(out, a)
				continue
			}
			if port == "0" {
				p, err := freeTCPPort(host)
				if err != nil {
					return "", nil, fmt.Errorf("line %d: %w", i+1, err)
				}
				port = fmt.Sprint(p)
			}
			hp := net.JoinHostPort(host, port)
			out = append(out, prefix+hp)
			if host == "" || host == "*" {
				hp = net.JoinHostPort("127.0.0.1", port)
			}
			addrs = append(addrs, hp)
		}
		// Replace the address field only, keeping indentation and options.
		at := strings.Index(line, "bind") + len("bind")
		at += strings.Index(line[at:], fs[1])
		lines[i] = line[:at] + strings.Join(out, ",") + line[at+len(fs[1]):]
	}
	return strings.Join(lines, "\n"), addrs, nil
}

func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// splitBindAddr splits one bind address into an ipv4@/ipv6@/tcp@ prefix,
// host and port; ok is false for anything that is not a single TCP port.
func splitBindAddr(a string) (prefix, host, port string, ok bool) {
	for _, pre := range []string{"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"} {
		if strings.HasPrefix(a, pre) {
			prefix, a = pre, a[len(pre):]
			break
		}
	}
	if a == "" || strings.Contains(a, "@") || strings.HasPrefix(a, "/") {
		return "", "", "", false
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", "", "", false
	}
	host, port = strings.Trim(a[:i], "[]"), a[i+1:]
	if port == "" || strings.Contains(port, "-") {
		return "", "", "", false
	}
	return prefix, host, port, true
}

// freeTCPPort reserves and releases a port on host ("" or "*": any).
func freeTCPPort(host string) (int, error) {
	if host == "*" {
		host = ""
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %q: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RunHAProxy runs haproxy (the reference e) with args to completion within
// d, as Run does for an engine's command: for the cases that compare how
// a configuration is refused (`-c -f bad.cfg`, a bind already in use).
// Each `-f FILE` is first copied, under the same base name so haproxy's
// "[bad.cfg:3]" still names it, with every `bind HOST:0` given a free port:
// haproxy refuses port 0, which would add an error the case did not write.
func RunHAProxy(e Engine, d time.Duration, args ...string) Result {
	if !e.Reference {
		return Result{Stderr: "RunHAProxy on an engine, not the reference", Code: -1}
	}
	dir, err := os.MkdirTemp("", "conformance-haproxy-")
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	defer os.RemoveAll(dir)
	args = append([]string(nil), args...)
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-f" {
			continue
		}
		text, err := os.ReadFile(args[i+1])
		if err != nil {
			return Result{Stderr: err.Error(), Code: -1}
		}
		out, _, err := assignBindPorts(string(text))
		if err != nil {
			return Result{Stderr: err.Error(), Code: -1}
		}
		sub := filepath.Join(dir, fmt.Sprint(i)) // two -f files may share a base name
		p := filepath.Join(sub, filepath.Base(args[i+1]))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return Result{Stderr: err.Error(), Code: -1}
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			return Result{Stderr: err.Error(), Code: -1}
		}
		args[i+1] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := supervise.Run(ctx, supervise.Spec{Name: "haproxy", Path: e.Path, Args: args, Capture: capture})
	if err != nil && r.Stderr == "" {
		r.Stderr = err.Error()
	}
	return r
}
