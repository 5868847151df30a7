package proxy

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

func threeServers(balance string, extra string) string {
	return cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    default_backend be
backend be
    balance ` + balance + `
` + extra + `
    server s1 127.0.0.1:9001 check inter 1s rise 2 fall 3
    server s2 127.0.0.1:9002 check inter 1s rise 2 fall 3
    server s3 127.0.0.1:9003 check inter 1s rise 2 fall 3
`)
}

func (h *harness) counts(addrs ...string) []int {
	var out []int
	for _, a := range addrs {
		out = append(out, len(h.servers[a]))
	}
	return out
}

var three = []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}

// Roundrobin with equal weights spreads sessions within ±10 %.
func TestRoundRobinDistribution(t *testing.T) {
	h := newHarness(t, threeServers("roundrobin", ""), 0)
	for _, a := range three {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	const n = 300
	for i := 0; i < n; i++ {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	for i, c := range h.counts(three...) {
		if math.Abs(float64(c)-n/3) > 0.1*n/3 {
			t.Errorf("server %d got %d of %d sessions", i+1, c, n)
		}
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server a 127.0.0.1:9001 weight 3
    server b 127.0.0.1:9002 weight 1
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	for i := 0; i < 400; i++ {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	if c := h.counts("127.0.0.1:9001", "127.0.0.1:9002"); c[0] != 300 || c[1] != 100 {
		t.Errorf("weights 3:1 gave %v", c)
	}
}

func TestLeastConn(t *testing.T) {
	h := newHarness(t, threeServers("leastconn", ""), 0)
	for _, a := range three {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	// Six sessions: two each. Then close both on s1: the next two go there.
	var clients []*peer
	for i := 0; i < 6; i++ {
		clients = append(clients, h.dial("127.0.0.1:8000", &peer{}))
		h.settle()
	}
	if c := h.counts(three...); c[0] != 2 || c[1] != 2 || c[2] != 2 {
		t.Fatalf("leastconn spread %v", c)
	}
	for _, p := range h.servers["127.0.0.1:9001"] {
		h.e.InjectReset(p.conn) // a reset ends the session at once
	}
	h.settle()
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if c := h.counts(three...); c[0] != 4 {
		t.Fatalf("leastconn after s1 emptied: %v", c)
	}
}

// balance source: one client address always reaches the same server.
func TestSourceHash(t *testing.T) {
	h := newHarness(t, threeServers("source", ""), 0)
	for _, a := range three {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	for i := 0; i < 20; i++ {
		h.dial("10.0.0.7:8000", &peer{}) // memengine: source = dialed IP
	}
	h.settle()
	c := h.counts(three...)
	if !(c[0] == 20 || c[1] == 20 || c[2] == 20) {
		t.Fatalf("one source spread over servers: %v", c)
	}
	for i := 0; i < 60; i++ {
		h.dial(fmt.Sprintf("10.0.1.%d:8000", i+1), &peer{})
	}
	h.settle()
	c = h.counts(three...)
	for i, n := range c {
		if n == 0 {
			t.Errorf("server %d got no source at all: %v", i+1, c)
		}
	}
}

// A server killed is marked down after "fall" failed checks and gets no
// more traffic; restarted, it is up again after "rise" good checks.
func TestHealthCheckFallRise(t *testing.T) {
	h := newHarness(t, threeServers("roundrobin", ""), 0)
	for _, a := range three {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	// A checked server starts one failure from down (HAProxy); the first
	// good check gives it the full health that "fall" counts down from.
	h.advance(time.Second)
	h.killServer("127.0.0.1:9002")
	for i := 1; i <= 3; i++ {
		h.advance(time.Second)
		_, up, _ := h.p.ServerStats("be", "s2")
		if want := i < 3; up != want {
			t.Fatalf("after %d failed checks up=%v, want %v", i, up, want)
		}
	}
	before := h.counts(three...)
	for i := 0; i < 30; i++ {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	after := h.counts(three...)
	if after[1] != before[1] || after[0]-before[0] != 15 || after[2]-before[2] != 15 {
		t.Fatalf("traffic with s2 down: before %v after %v", before, after)
	}
	st, _, _ := h.p.ServerStats("be", "s2")
	if st.ChkFail != 3 {
		t.Errorf("check failures = %d", st.ChkFail)
	}
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.advance(time.Second)
	if _, up, _ := h.p.ServerStats("be", "s2"); up {
		t.Fatal("up after 1 good check, rise is 2")
	}
	h.advance(time.Second)
	if _, up, _ := h.p.ServerStats("be", "s2"); !up {
		t.Fatal("not up after 2 good checks")
	}
	n2 := len(h.servers["127.0.0.1:9002"])
	for i := 0; i < 30; i++ {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	if len(h.servers["127.0.0.1:9002"])-n2 < 9 {
		t.Fatalf("traffic did not come back to s2: %d new", len(h.servers["127.0.0.1:9002"])-n2)
	}
}

// Backup servers take traffic only when no active server is up.
func TestBackupServer(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server a 127.0.0.1:9001 check inter 1s fall 1
    server b 127.0.0.1:9002 backup
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.killServer("127.0.0.1:9001")
	h.advance(time.Second)
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if c := h.counts("127.0.0.1:9001", "127.0.0.1:9002"); c[0] != 1 || c[1] != 1 {
		t.Fatalf("backup use: %v", c)
	}
}

// An unreachable backend: the client is closed after the retries, every
// failed attempt is counted, and the turn-around delay separates retries.
func TestUnreachableBackendRetries(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    retries 2
    server a 127.0.0.1:9009
`), 0)
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	st, _ := h.p.BackendStats("l")
	if st.Econ != 1 || cli.eof {
		t.Fatalf("after first attempt: econ=%d client eof=%v", st.Econ, cli.eof)
	}
	h.advance(time.Second) // turn-around: min(1s, timeout connect=1s)
	h.advance(time.Second)
	st, _ = h.p.BackendStats("l")
	if st.Econ != 3 || st.Wretr != 2 || !cli.eof || h.p.Sessions() != 0 {
		t.Fatalf("after retries: %+v client eof=%v sessions=%d", st, cli.eof, h.p.Sessions())
	}
}

// A blackholed backend: each attempt ends at timeout connect.
func TestConnectTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    retries 1
    timeout connect 2s
    server a 127.0.0.1:9009
`), 0)
	if err := h.e.Blackhole("127.0.0.1:9009"); err != nil {
		t.Fatal(err)
	}
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.advance(1999 * time.Millisecond)
	if st, _ := h.p.BackendStats("l"); st.Econ != 0 {
		t.Fatal("connect failed before timeout connect")
	}
	h.advance(time.Millisecond)
	h.advance(2 * time.Second) // the retry, no turn-around after a timeout
	st, _ := h.p.BackendStats("l")
	if st.Econ != 2 || !cli.eof {
		t.Fatalf("econ=%d client eof=%v", st.Econ, cli.eof)
	}
}

// option redispatch moves the last retry to another server.
func TestRedispatch(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    retries 1
    option redispatch
    server dead 127.0.0.1:9009
    server live 127.0.0.1:9002
`), 0)
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	// Roundrobin sends the first session to "dead".
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.advance(time.Second)
	if len(h.servers["127.0.0.1:9002"]) != 1 || cli.eof {
		t.Fatalf("not redispatched: live conns=%d client eof=%v", len(h.servers["127.0.0.1:9002"]), cli.eof)
	}
	if st, _ := h.p.BackendStats("l"); st.Wredis != 1 || st.Econ != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// tcp-request connection reject with a src ACL: the client is closed and
// no server is contacted; other sources pass.
func TestACLReject(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    acl blocked src 10.9.0.0/16
    tcp-request connection reject if blocked
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	bad := h.dial("10.9.1.1:8000", &peer{})
	good := h.dial("10.8.1.1:8000", &peer{})
	h.settle()
	if !bad.eof || good.eof || len(h.servers["127.0.0.1:9001"]) != 1 {
		t.Fatalf("bad eof=%v good eof=%v server conns=%d", bad.eof, good.eof, len(h.servers["127.0.0.1:9001"]))
	}
	if st, _ := h.p.FrontendStats("fe"); st.Dcon != 1 || st.Stot != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUseBackend(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    acl internal src 10.0.0.0/8
    use_backend in if internal
    default_backend out
backend in
    server a 127.0.0.1:9001
backend out
    server b 127.0.0.1:9002
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	h.dial("10.1.1.1:8000", &peer{})
	h.dial("192.168.1.1:8000", &peer{})
	h.settle()
	if c := h.counts("127.0.0.1:9001", "127.0.0.1:9002"); c[0] != 1 || c[1] != 1 {
		t.Fatalf("routing %v", c)
	}
}

// Server maxconn with a queue: the third client waits until a slot frees;
// timeout queue drops a client that waited too long.
func TestServerMaxconnQueue(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    timeout queue 5s
    server a 127.0.0.1:9001 maxconn 2
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	c1 := h.dial("127.0.0.1:8000", &peer{})
	h.dial("127.0.0.1:8000", &peer{})
	c3 := h.dial("127.0.0.1:8000", &peer{})
	_ = c3.conn.Write([]byte("queued bytes"))
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]); n != 2 {
		t.Fatalf("%d server conns with maxconn 2", n)
	}
	if st, _ := h.p.BackendStats("l"); st.Qcur != 1 {
		t.Fatalf("qcur = %d", st.Qcur)
	}
	h.e.InjectReset(c1.conn)
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]); n != 3 {
		t.Fatalf("queued client not dequeued: %d server conns", n)
	}
	if got := h.servers["127.0.0.1:9001"][2].data.String(); got != "queued bytes" {
		t.Fatalf("queued client's bytes: %q", got)
	}
	c4 := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.advance(5 * time.Second)
	if !c4.eof || len(h.servers["127.0.0.1:9001"]) != 3 {
		t.Fatalf("timeout queue: eof=%v conns=%d", c4.eof, len(h.servers["127.0.0.1:9001"]))
	}
	if st, _ := h.p.BackendStats("l"); st.Qcur != 0 {
		t.Fatalf("qcur after timeout = %d", st.Qcur)
	}
}

// Frontend maxconn: a client over the limit waits (paused) and is served
// once a session ends.
func TestFrontendMaxconn(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    maxconn 1
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	c1 := h.dial("127.0.0.1:8000", &peer{})
	c2 := h.dial("127.0.0.1:8000", &peer{})
	_ = c2.conn.Write([]byte("hello"))
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]); n != 1 {
		t.Fatalf("%d server conns with maxconn 1", n)
	}
	h.e.InjectReset(c1.conn)
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]); n != 2 || h.servers["127.0.0.1:9001"][1].data.String() != "hello" {
		t.Fatalf("waiting client not admitted: %d conns", n)
	}
}

// admCounts are the global and per-frontend session counts of admission.
func (h *harness) admCounts() (global int, fe []int) {
	h.p.admMu.Lock()
	defer h.p.admMu.Unlock()
	for _, f := range h.p.frontends {
		fe = append(fe, f.cur)
	}
	return h.p.cur, fe
}

// A full frontend pauses its listeners (HAProxy's listener_full): clients
// over maxconn are never accepted and wait in the backlog, connected but
// unseen by the proxy (no session), until a session ends; then the oldest
// is accepted and served. A global maxconn pauses every frontend's.
func TestFrontendMaxconnPausesListener(t *testing.T) {
	h := newHarness(t, cfgWith(`
global
    maxconn 2
listen l
    bind 127.0.0.1:8000
    maxconn 1
    server a 127.0.0.1:9001
listen m
    bind 127.0.0.1:8001
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	c1 := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	var held []*peer
	for i := range 4 {
		c := h.dial("127.0.0.1:8000", &peer{})
		_ = c.conn.Write([]byte(fmt.Sprintf("held %d", i)))
		held = append(held, c)
	}
	h.settle()
	if len(h.sessions) != 1 || h.p.cumConns.Load() != 1 {
		t.Fatalf("%d sessions (%d accepted) with maxconn 1, want 1: the listener was not paused", len(h.sessions), h.p.cumConns.Load())
	}
	for i, c := range held {
		if c.eof || c.closed {
			t.Fatalf("client %d in the backlog was closed", i)
		}
	}
	if g, fe := h.admCounts(); g != 1 || fe[0] != 1 || fe[1] != 0 {
		t.Fatalf("counts global %d, frontends %v, want 1, [1 0]", g, fe)
	}
	// Frontend m fills the global maxconn: both frontends are paused.
	m1 := h.dial("127.0.0.1:8001", &peer{})
	h.settle()
	m2 := h.dial("127.0.0.1:8001", &peer{})
	h.settle()
	if len(h.sessions) != 2 || !h.p.frontends[1].paused || m2.eof || m2.closed {
		t.Fatalf("global maxconn 2: %d sessions, m paused %v, want 2 and true, the third client held", len(h.sessions), h.p.frontends[1].paused)
	}
	// m1 ends: the global slot goes to m's backlog (l is still full).
	h.e.InjectReset(m1.conn)
	h.settle()
	if len(h.sessions) != 3 || h.p.cumConns.Load() != 3 {
		t.Fatalf("after m1 ended: %d sessions, want 3 (m2 accepted)", len(h.sessions))
	}
	// c1 ends: the oldest held client of l is accepted and served, and
	// nobody else.
	h.e.InjectReset(c1.conn)
	h.settle()
	if len(h.sessions) != 4 {
		t.Fatalf("after c1 ended: %d sessions, want 4", len(h.sessions))
	}
	srv := h.servers["127.0.0.1:9001"]
	if got := srv[len(srv)-1].data.String(); got != "held 0" {
		t.Fatalf("the last server connection got %q, want the oldest held client's \"held 0\"", got)
	}
	if g, fe := h.admCounts(); g != 2 || fe[0] != 1 || fe[1] != 1 {
		t.Fatalf("counts global %d, frontends %v, want 2, [1 1]", g, fe)
	}
}

// latePause is a listener whose Pause never takes effect (and which has
// no budget), standing for the clients an engine accepts before a Pause
// reaches its accept path (those over a global maxconn).
type latePause struct{ engine.Listener }

func (latePause) Pause() {}

// Clients refused because the wait list is full never held a slot and
// must not give one back: before, each refusal lowered the count, so a
// flood raised the effective maxconn by one per refused client. The
// listener ignores Pause here, so the clients reach the wait list (the
// race window of a real engine's pause).
func TestFrontendMaxconnRefusedHoldNoSlot(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    maxconn 1
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	for i, l := range h.p.frontends[0].listeners {
		l.SetBudget(nil) // no count at accept either
		h.p.frontends[0].listeners[i] = latePause{l}
	}
	c1 := h.dial("127.0.0.1:8000", &peer{}) // admitted
	h.dial("127.0.0.1:8000", &peer{})       // waits (wait list of 1)
	var refused []*peer
	for range 5 {
		refused = append(refused, h.dial("127.0.0.1:8000", &peer{}))
	}
	h.settle()
	for i, c := range refused {
		if !c.eof && !c.closed {
			t.Fatalf("client %d over the wait list not closed", i)
		}
	}
	cur := func() (int, int) {
		h.p.admMu.Lock()
		defer h.p.admMu.Unlock()
		return h.p.cur, h.p.frontends[0].cur
	}
	if p, fe := cur(); p != 1 || fe != 1 {
		t.Fatalf("after 5 refusals: global cur %d, frontend cur %d, want 1 and 1", p, fe)
	}
	for range 3 {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]); n != 1 {
		t.Fatalf("%d server conns with maxconn 1", n)
	}
	h.e.InjectReset(c1.conn)
	h.settle()
	if p, fe := cur(); p != 1 || fe != 1 {
		t.Fatalf("after the first session ended: global cur %d, frontend cur %d, want 1 and 1", p, fe)
	}
	if n := len(h.servers["127.0.0.1:9001"]); n != 2 {
		t.Fatalf("%d server conns, want 2 (the waiter admitted, nobody else)", n)
	}
}

// accept-proxy: a valid v1 or v2 header (even byte by byte) sets the
// client address that send-proxy passes on; anything else is closed and
// the backend is never contacted.
func TestAcceptProxyToSendProxy(t *testing.T) {
	for _, v := range []string{"send-proxy", "send-proxy-v2"} {
		t.Run(v, func(t *testing.T) {
			h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000 accept-proxy
    server a 127.0.0.1:9001 `+v+`
`), 0)
			h.server("127.0.0.1:9001", func() *peer { return &peer{} })
			h.start()
			cli := h.dial("127.0.0.1:8000", &peer{})
			h.settle()
			in := []byte("PROXY TCP4 192.0.2.1 198.51.100.2 40001 443\r\nhello")
			for i := range in { // one byte at a time
				_ = cli.conn.Write(in[i : i+1])
				h.settle()
			}
			srv := h.only("127.0.0.1:9001")
			hdr, n, err := proxyproto.Decode(srv.data.Bytes())
			if err != nil {
				t.Fatalf("server got %q: %v", srv.data.Bytes(), err)
			}
			if hdr.Source.String() != "192.0.2.1:40001" || hdr.Destination.String() != "198.51.100.2:443" {
				t.Fatalf("forwarded header %+v", hdr)
			}
			if rest := srv.data.Bytes()[n:]; string(rest) != "hello" {
				t.Fatalf("payload after header: %q", rest)
			}
		})
	}
}

func TestAcceptProxyRejects(t *testing.T) {
	long := "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"
	v2 := []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0xFF, 0xFF}
	for name, in := range map[string][]byte{
		"garbage":         []byte("GET / HTTP/1.1\r\n\r\n"),
		"bad v1":          []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n"),
		"oversized v1":    []byte(long),
		"v2 lying length": v2,
		"v2 bad version":  append(append([]byte{}, v2[:12]...), 0x31, 0x11, 0, 12),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfgWith(`
global
    log stderr local0
listen l
    bind 127.0.0.1:8000 accept-proxy
    server a 127.0.0.1:9001
`), 0)
			h.server("127.0.0.1:9001", func() *peer { return &peer{} })
			h.start()
			cli := h.dial("127.0.0.1:8000", &peer{})
			_ = cli.conn.Write(in)
			h.settle()
			if !cli.eof && !cli.closed {
				t.Fatal("client not closed")
			}
			if n := len(h.servers["127.0.0.1:9001"]); n != 0 {
				t.Fatalf("backend contacted %d times", n)
			}
			if st, _ := h.p.FrontendStats("l"); st.Ereq != 1 {
				t.Fatalf("ereq = %d", st.Ereq)
			}
			if !strings.Contains(h.log.String(), "PROXY protocol header") {
				t.Errorf("log: %q", h.log.String())
			}
		})
	}
}

// A client that closes before a complete header, or sends nothing until
// timeout client: closed, backend untouched.
func TestAcceptProxyTruncatedAndTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(`
global
    log stderr local0
listen l
    bind 127.0.0.1:8000 accept-proxy
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	c1 := h.dial("127.0.0.1:8000", &peer{})
	_ = c1.conn.Write([]byte("PROXY TCP4 1.2"))
	_ = c1.conn.CloseWrite()
	c2 := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.advance(10 * time.Second)
	if !c1.eof || !c2.eof || len(h.servers["127.0.0.1:9001"]) != 0 {
		t.Fatalf("c1 eof=%v c2 eof=%v backend conns=%d", c1.eof, c2.eof, len(h.servers["127.0.0.1:9001"]))
	}
	for _, reason := range []string{"Truncated PROXY protocol header received", "Timeout while waiting for PROXY protocol header"} {
		if !strings.Contains(h.log.String(), reason) {
			t.Errorf("log lacks %q: %q", reason, h.log.String())
		}
	}
}

// send-proxy without accept-proxy carries the client socket's addresses.
func TestSendProxyFromSocket(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 0.0.0.0:8000
    server a 127.0.0.1:9001 send-proxy
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("10.1.2.3:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9001")
	hdr, _, err := proxyproto.Decode(srv.data.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	local := cli.conn.LocalAddr().String()
	if hdr.Source.String() != local || hdr.Destination.String() != "10.1.2.3:8000" {
		t.Fatalf("header src %s dst %s, client %s", hdr.Source, hdr.Destination, local)
	}
	if !bytes.HasPrefix(srv.data.Bytes(), []byte("PROXY TCP4 10.1.2.3 10.1.2.3 ")) {
		t.Fatalf("v1 line %q", srv.data.Bytes())
	}
}

// Soft-stop: listeners close, the live session finishes, then Done.
func TestSoftStop(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.p.SoftStop()
	h.settle()
	select {
	case <-h.p.Done():
		t.Fatal("done with a live session")
	default:
	}
	late := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if !late.closed {
		t.Fatal("new connection accepted after soft-stop")
	}
	srv := h.only("127.0.0.1:9000")
	_ = cli.conn.Write([]byte("still works"))
	h.settle()
	if srv.data.String() != "still works" {
		t.Fatal("live session broken by soft-stop")
	}
	_ = cli.conn.CloseWrite()
	_ = srv.conn.CloseWrite()
	h.settle()
	h.advance(100 * time.Millisecond)
	select {
	case <-h.p.Done():
	default:
		t.Fatal("not done after the last session")
	}
}

// "port" on a server line redirects its health check.
func TestHealthCheckPort(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server a 127.0.0.1:9001 check port 9501 inter 1s fall 1 rise 1
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	h.advance(time.Second) // nothing on 9501: down although 9001 answers
	if _, up, _ := h.p.ServerStats("l", "a"); up {
		t.Fatal("check did not use the check port")
	}
	h.server("127.0.0.1:9501", func() *peer { return &peer{} })
	h.advance(time.Second)
	if _, up, _ := h.p.ServerStats("l", "a"); !up {
		t.Fatal("not up once the check port answers")
	}
	if n := len(h.servers["127.0.0.1:9001"]); n != 0 {
		t.Fatalf("checks went to the service port (%d conns)", n)
	}
}
