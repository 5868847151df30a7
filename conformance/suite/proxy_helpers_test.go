package suite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/core/peers"
)

const specP = "proxy-protocol-notes "

func pc(id, spec, desc string, run func(t *harness.T, e harness.Engine)) harness.Case {
	return harness.Case{ID: id, Kind: harness.KindProxy, Spec: spec, Desc: desc, Run: run}
}

// cfgHead is the global/defaults part of every test configuration.
const cfgHead = `global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 20s
    timeout server 20s
`

// writeCfg writes text to a fresh haproxy.cfg and returns its path.
func writeCfg(t *harness.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startProxy runs `proxy -f cfg` and waits for READY; on the reference
// it runs the same text on `haproxy -db -f` (each `bind HOST:0` given a
// free port) and waits until haproxy listens on every bind.
func startProxy(t *harness.T, e harness.Engine, cfg string) *harness.Proc {
	t.Helper()
	if e.Reference {
		return harness.StartHAProxy(t, e, cfg)
	}
	return harness.Start(t, e, "proxy", "-f", writeCfg(t, "haproxy.cfg", cfg))
}

// simpleCfg is one frontend on 127.0.0.1:0 with bindOpts, one backend
// with the given server lines and extra backend lines.
func simpleCfg(bindOpts string, feExtra string, beExtra string, servers ...string) string {
	var b strings.Builder
	b.WriteString(cfgHead)
	fmt.Fprintf(&b, "\nfrontend fe\n    bind 127.0.0.1:0 %s\n%s    default_backend be\n\nbackend be\n%s", bindOpts, feExtra, beExtra)
	for i, s := range servers {
		fmt.Fprintf(&b, "    server s%d %s\n", i+1, s)
	}
	return b.String()
}

// dial connects to addr, optionally from a chosen loopback source IP.
func dial(t *harness.T, addr string, src string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// refusedByHAProxy checks how the reference refused what an engine must
// refuse with exit 2 before READY: haproxy exits non-zero (1) and its
// stderr names want (its "parsing [bad.cfg:3]", "cannot bind socket").
// The exit status and the one-line form are the engines' command-line
// contract (spec/cli.md) and are not compared.
func refusedByHAProxy(t *harness.T, r harness.Result, want string) {
	t.Helper()
	if r.Code <= 0 {
		t.Fatalf("haproxy exit %d, want a refusal (stderr %q)", r.Code, strings.TrimSpace(r.Stderr))
	}
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("haproxy refused (exit %d) but its stderr %q does not name %s", r.Code, strings.TrimSpace(r.Stderr), want)
	}
}

// expectRejected connects to addr from src and expects the connection to be
// closed with nothing relayed (a `tcp-request connection reject`). A reset
// during the TCP handshake counts as that close: HAProxy 2.6 resets a
// rejected connection as soon as it accepts it, which on loopback often
// arrives before connect() reports success; an engine may instead close
// after the handshake. Either way nothing was relayed.
func expectRejected(t *harness.T, addr, src string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	if seen, err := expectEOF(c, closeWithin); err != nil || len(seen) > 0 {
		t.Fatalf("rejected client %s: %v, got %q", src, err, seen)
	}
}

// roundTrip writes msg and reads back exactly len(want) bytes within d.
func roundTrip(c net.Conn, msg, want []byte, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if len(msg) > 0 {
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read %d bytes: %w (got %q)", len(want), err, got)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read %q, want %q", got, want)
	}
	return nil
}

// readLine reads one '\n'-terminated line within d.
func readLine(c net.Conn, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b []byte
	one := make([]byte, 1)
	for len(b) < 256 {
		if _, err := c.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return string(b), fmt.Errorf("line too long")
}

// expectEOF waits up to d for the peer's FIN or RST, returning the bytes
// received before it.
func expectEOF(c net.Conn, d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var seen []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if len(seen) < 1<<20 {
			seen = append(seen, buf[:n]...)
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return seen, fmt.Errorf("still open after %v", d)
			}
			return seen, nil
		}
	}
}

// through checks one full echo round trip through the proxy.
func through(t *harness.T, addr, src string) {
	t.Helper()
	c := dial(t, addr, src)
	if err := roundTrip(c, []byte("ping\n"), []byte("ping\n"), 5*time.Second); err != nil {
		t.Fatalf("relay through %s: %v", addr, err)
	}
	c.Close()
}

// whichServer connects and reads the tagged backend's name line.
func whichServer(t *harness.T, addr, src string) (string, *net.TCPConn) {
	t.Helper()
	c := dial(t, addr, src)
	name, err := readLine(c, 5*time.Second)
	if err != nil {
		t.Fatalf("reading the server tag via %s: %v", addr, err)
	}
	return name, c
}

// deadAddr returns a host address with nothing listening.
func deadAddr(t *harness.T) string {
	t.Helper()
	// A port that is bound but not listening: a connect to it is refused,
	// and, unlike a port released after a listen, no other socket of the
	// run can take it meanwhile (a parallel case's listener binding it, or
	// a check's connect choosing it as its own source port and connecting
	// to itself) and answer for the dead server.
	ip := net.ParseIP(harness.HostIP()).To4()
	if ip == nil {
		t.Fatalf("deadAddr: host IP %s is not IPv4", harness.HostIP())
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte(ip)}); err != nil {
		t.Fatalf("deadAddr: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("deadAddr: getsockname: %v", err)
	}
	return net.JoinHostPort(harness.HostIP(), fmt.Sprint(sa.(*syscall.SockaddrInet4).Port))
}

// freePort reserves and releases a loopback port for configs that must
// name their port up front, below the ephemeral range (peers.PickPort).
func freePort(t *harness.T) int {
	t.Helper()
	p, err := peers.PickPort(net.Listen, harness.HostIP())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond every 10 ms for up to d: used only to observe an
// engine's asynchronous state (health checks), never to order the suite's
// own steps.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
