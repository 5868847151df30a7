package suite

import (
	"context"
	"crypto/rand"
	"net"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
	"github.com/netmodels/netmodels/core/promscrape"
)

// closeWithin is the contract's bound for closing a connection that sent a
// malformed frame or claimed an oversized length.
const closeWithin = 3 * time.Second

var cleanExitCase = harness.Case{
	ID: "cli-clean-exit-all", Kind: harness.KindMsgr, Spec: "CONTRACT.md Long-running commands",
	Desc: "every msgr-server/proxy process the suite started exited 0 within 5 s of SIGTERM and wrote nothing to stdout after READY",
}

// startServer starts `msgr-server --listen HOST:0 args...` (ListenHost:
// reachable by every engine's client, DPDK ones included).
func startServer(t *harness.T, e harness.Engine, args ...string) *harness.Proc {
	t.Helper()
	return harness.Start(t, e, append([]string{"msgr-server", "--listen", net.JoinHostPort(harness.ListenHost(e), "0")}, args...)...)
}

// open starts a raw client session to p's first READY address.
func open(t *harness.T, p *harness.Proc, o msgr1.ClientOpts) *msgr1.Session {
	t.Helper()
	s, err := msgr1.Open(p.Addr(0), o)
	if err != nil {
		t.Fatalf("handshake with %s: %v; server stderr: %s", p.Addr(0), err, p.StderrTail())
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// start is msgr1.Start with failure handling (banner exchange done, no
// connect sent yet).
func start(t *harness.T, p *harness.Proc, o msgr1.ClientOpts) *msgr1.Session {
	t.Helper()
	s, err := msgr1.Start(p.Addr(0), o)
	if err != nil {
		t.Fatalf("banner exchange with %s: %v", p.Addr(0), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawDial opens a plain socket to the server with the banner exchange
// not yet done.
func rawDial(t *harness.T, p *harness.Proc) *msgr1.Conn {
	t.Helper()
	c, err := msgr1.Dial(p.Addr(0))
	if err != nil {
		t.Fatalf("dial %s: %v", p.Addr(0), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectFault checks the server closed c within closeWithin after a bad
// input, and that it still serves a fresh connection (CONTRACT.md: a
// malformed input closes only the offending connection).
func expectFault(t *harness.T, p *harness.Proc, c *msgr1.Conn, what string) {
	t.Helper()
	start := time.Now()
	seen, err := c.ExpectClosed(closeWithin)
	if err != nil {
		t.Errorf("after %s: %v", what, err)
	} else {
		t.Logf("%s: closed after %v", what, time.Since(start).Round(time.Millisecond))
		if n := countMsgs(seen); n > 0 {
			t.Errorf("after %s: server sent %d bytes starting with a MSG before closing", what, len(seen))
		}
	}
	stillServes(t, p)
}

// countMsgs reports whether b starts with a MSG tag (a reply the server
// should not have produced).
func countMsgs(b []byte) int {
	if len(b) > 0 && b[0] == msgr1.TagMsg {
		return 1
	}
	return 0
}

// stillServes proves the server is alive and serving: a new session
// completes an ECHO round trip.
func stillServes(t *harness.T, p *harness.Proc) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("server process exited; stderr: %s", p.StderrTail())
	}
	s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
	if err != nil {
		t.Fatalf("second connection: handshake failed: %v", err)
	}
	defer s.Close()
	if _, err := s.Echo(7, []byte("f"), nil, []byte("still serving")); err != nil {
		t.Fatalf("second connection: %v", err)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// openDefault runs the banner exchange and a default connect on a raw
// session (CLIENT → OSD, all features), returning it open.
func openDefault(t *harness.T, p *harness.Proc) *msgr1.Session {
	t.Helper()
	return open(t, p, msgr1.ClientOpts{})
}

// scrape reads Prometheus text from http://addr/metrics (core/promscrape)
// into series → value, the series written as the text writes it
// (name{label="value",...}).
func scrape(addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := promscrape.Get(ctx, "http://"+addr+"/metrics")
	return promscrape.Values(s), err
}

// localAddr returns the TCP local address of c.
func localAddr(c net.Conn) *net.TCPAddr { return c.LocalAddr().(*net.TCPAddr) }
