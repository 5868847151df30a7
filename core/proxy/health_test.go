package proxy

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// fakeRedis answers the commands of the master/replica check (PING, INFO
// replication, QUIT) line by line, with the role *role holds.
type fakeRedis struct {
	role *string
	buf  []byte
}

func (f *fakeRedis) OnOpen(engine.Conn) {}
func (f *fakeRedis) OnData(c engine.Conn, in []byte) int {
	f.buf = append(f.buf, in...)
	for {
		i := bytes.Index(f.buf, []byte("\r\n"))
		if i < 0 {
			return len(in)
		}
		cmd := strings.ToLower(string(f.buf[:i]))
		f.buf = f.buf[i+2:]
		switch cmd {
		case "ping":
			_ = c.Write([]byte("+PONG\r\n"))
		case "info replication":
			body := "# Replication\r\nrole:" + *f.role + "\r\n"
			_ = c.Write([]byte("$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n"))
		case "quit":
			_ = c.Write([]byte("+OK\r\n"))
			_ = c.CloseWrite()
		default:
			_ = c.Write([]byte("+DATA\r\n")) // client traffic through the proxy
		}
	}
}
func (f *fakeRedis) OnReadEOF(c engine.Conn)    { _ = c.Close() }
func (f *fakeRedis) OnDrained(engine.Conn)      {}
func (f *fakeRedis) OnClose(engine.Conn, error) {}

func (h *harness) listen(addr string, mk func() engine.Handler) {
	h.t.Helper()
	l, err := h.e.Listen(addr, func(engine.Conn) engine.Handler { return mk() })
	if err != nil {
		h.t.Fatal(err)
	}
	h.lis[addr] = l
}

func (h *harness) stot(be, srv string) int64 {
	st, _, _ := h.p.ServerStats(be, srv)
	return st.Stot
}

func (h *harness) isUp(be, srv string) bool {
	_, up, _ := h.p.ServerStats(be, srv)
	return up
}

const redisCheck = `
    option tcp-check
    tcp-check send PING\r\n
    tcp-check expect string +PONG
    tcp-check send info\ replication\r\n
    tcp-check expect string role:master
    tcp-check send QUIT\r\n
    tcp-check expect string +OK
`

// advanceUntil moves the fake clock in 10 ms steps until cond holds or
// limit has passed, and returns the time it took.
func (h *harness) advanceUntil(limit time.Duration, cond func() bool) time.Duration {
	var d time.Duration
	for ; d < limit && !cond(); d += 10 * time.Millisecond {
		h.advance(10 * time.Millisecond)
	}
	return d
}

// Issue 16's Redis backend: the check passes only on the master, so
// traffic goes only there, and follows a failover within fall checks.
// A replica never sends "role:master" nor closes, so its check fails at
// "timeout check" (HAProxy does the same).
func TestTCPCheckRedisFailover(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen redis
    bind 127.0.0.1:6000
    timeout check 200ms
`+redisCheck+`
    server r1 127.0.0.1:6001 check inter 1s fall 2 rise 1
    server r2 127.0.0.1:6002 check inter 1s fall 2 rise 1
`), 0)
	role1, role2 := "master", "slave"
	h.listen("127.0.0.1:6001", func() engine.Handler { return &fakeRedis{role: &role1} })
	h.listen("127.0.0.1:6002", func() engine.Handler { return &fakeRedis{role: &role2} })
	h.start()
	// A checked server starts one failure from down (HAProxy): the
	// replica's first check, at 1 s, fails at +200 ms.
	took := h.advanceUntil(5*time.Second, func() bool { return !h.isUp("redis", "r2") })
	if took != 1200*time.Millisecond || !h.isUp("redis", "r1") {
		t.Fatalf("replica down after %v (want 1.2s); master up %v", took, h.isUp("redis", "r1"))
	}
	if r, ok := h.p.ServerCheck("redis", "r2"); !ok || r.Status != tcpcheck.L7TOUT || r.Desc != "at step 5 of tcp-check (expect string 'role:master')" {
		t.Fatalf("replica's check: %+v", r)
	}
	if r, _ := h.p.ServerCheck("redis", "r1"); r.Status != tcpcheck.L7OK {
		t.Fatalf("master's check: %+v", r)
	}
	for range 6 {
		h.dial("127.0.0.1:6000", &peer{})
	}
	h.settle()
	if a, b := h.stot("redis", "r1"), h.stot("redis", "r2"); a != 6 || b != 0 {
		t.Fatalf("before failover: r1 %d r2 %d sessions", a, b)
	}
	role1, role2 = "slave", "master"
	took = h.advanceUntil(5*time.Second, func() bool { return !h.isUp("redis", "r1") && h.isUp("redis", "r2") })
	if took > 2*(time.Second+200*time.Millisecond) {
		t.Fatalf("failover took %v: r1 up %v, r2 up %v", took, h.isUp("redis", "r1"), h.isUp("redis", "r2"))
	}
	for range 6 {
		h.dial("127.0.0.1:6000", &peer{})
	}
	h.settle()
	if a, b := h.stot("redis", "r1"), h.stot("redis", "r2"); a != 6 || b != 6 {
		t.Fatalf("after failover: r1 %d r2 %d sessions", a, b)
	}
	if !strings.Contains(h.log.String(), `Server redis/r1 is DOWN, reason: Layer7 timeout, info: "at step 5 of tcp-check (expect string 'role:master')", check duration: 200ms. 1 active and 0 backup servers left. 6 sessions active, 0 requeued, 0 remaining in queue.`) {
		t.Errorf("log: %s", h.log)
	}
}

// A reply that ends (EOF) without the pattern fails at once, with
// HAProxy's text.
func TestTCPCheckMismatchAtEOF(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
    option tcp-check
    tcp-check send PING\r\n
    tcp-check expect string +PONG
    server s 127.0.0.1:6001 check inter 1s fall 1
`), 0)
	h.server("127.0.0.1:6001", func() *peer {
		return &peer{onOpen: func(c engine.Conn) { _ = c.Write([]byte("-ERR no\r\n")); _ = c.CloseWrite() }}
	})
	h.start()
	h.advance(time.Second)
	r, _ := h.p.ServerCheck("l", "s")
	if h.isUp("l", "s") || r.Status != tcpcheck.L7RSP || r.Desc != "TCPCHK did not match content '+PONG' at step 3" {
		t.Fatalf("check: %+v", r)
	}
}

// silent accepts and never answers; noisy floods n bytes.
type silent struct{ engine.BaseHandler }

func (silent) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (silent) OnReadEOF(engine.Conn)               {}

type noisy struct {
	silent
	n int
}

func (z noisy) OnOpen(c engine.Conn) {
	for i := 0; i < z.n; i += 4096 {
		_ = c.Write(bytes.Repeat([]byte("x"), min(4096, z.n-i)))
	}
}

// timeout check bounds the exchange after the connect; without it inter
// bounds the whole check.
func TestTCPCheckTimeout(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		fails       time.Duration // when the first check has failed
	}{
		{"timeout check", "    timeout check 300ms\n", 300 * time.Millisecond},
		{"inter", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
`+tc.extra+`    option redis-check
    server s 127.0.0.1:6001 check inter 2s fall 1 rise 1
`), 0)
			h.listen("127.0.0.1:6001", func() engine.Handler { return silent{} })
			h.start()
			h.advance(2 * time.Second) // the first check starts
			h.advance(tc.fails - time.Millisecond)
			if !h.isUp("l", "s") {
				t.Fatal("down before the timeout")
			}
			h.advance(time.Millisecond)
			if h.isUp("l", "s") {
				t.Fatal("still up after the timeout")
			}
			if r, _ := h.p.ServerCheck("l", "s"); r.Status != tcpcheck.L7TOUT {
				t.Fatalf("check: %+v", r)
			}
		})
	}
}

// A check keeps at most tune.bufsize bytes of a reply: a server that
// floods fails the check as soon as the buffer is full (a final read),
// not at the timeout, and the proxy holds no more than that.
func TestTCPCheckBoundedReply(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
    option redis-check
    server s 127.0.0.1:6001 check inter 2s fall 1 rise 1
`), 0)
	h.listen("127.0.0.1:6001", func() engine.Handler { return noisy{n: 200 << 10} })
	h.start()
	h.advance(2 * time.Second)
	if h.isUp("l", "s") {
		t.Fatal("a flood passed the check")
	}
	if r, _ := h.p.ServerCheck("l", "s"); r.Status != tcpcheck.L7STS || r.Duration != 0 {
		t.Fatalf("check: %+v", r)
	}
}

// PROXY headers on checks: check-send-proxy always; send-proxy only
// when the check goes to the server's own address (HAProxy's rule).
func TestCheckSendProxy(t *testing.T) {
	h := newHarness(t, cfgWith(`
backend b
    server a 127.0.0.1:6001 send-proxy check inter 1s
    server b 127.0.0.1:6002 send-proxy-v2 check-send-proxy check inter 1s port 6012
    server c 127.0.0.1:6003 send-proxy check inter 1s port 6013
listen l
    bind 127.0.0.1:6000
`), 0)
	for _, a := range []string{"127.0.0.1:6001", "127.0.0.1:6012", "127.0.0.1:6013"} {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	h.advance(time.Second)
	for addr, want := range map[string]string{
		"127.0.0.1:6001": "PROXY TCP4 ",
		"127.0.0.1:6012": "\r\n\r\n\x00\r\nQUIT\n\x20", // v2 LOCAL
		"127.0.0.1:6013": "",
	} {
		p := h.only(addr)
		if got := p.data.String(); !strings.HasPrefix(got, want) || (want == "" && got != "") {
			t.Errorf("%s: check sent %q, want a prefix %q", addr, got, want)
		}
	}
}

// on-marked-down shutdown-sessions closes the sessions of a server its
// check marks down; without it they stay.
func TestOnMarkedDownShutdownSessions(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
    server a 127.0.0.1:6001 check inter 1s fall 1 on-marked-down shutdown-sessions
listen m
    bind 127.0.0.1:7000
    server a 127.0.0.1:7001 check inter 1s fall 1
`), 0)
	h.server("127.0.0.1:6001", func() *peer { return &peer{} })
	h.server("127.0.0.1:7001", func() *peer { return &peer{} })
	h.start()
	c := h.dial("127.0.0.1:6000", &peer{})
	k := h.dial("127.0.0.1:7000", &peer{})
	h.settle()
	h.killServer("127.0.0.1:6001")
	h.killServer("127.0.0.1:7001")
	h.advance(time.Second)
	if h.isUp("l", "a") || h.isUp("m", "a") {
		t.Fatal("not marked down")
	}
	if !c.closed && !c.eof {
		t.Fatal("session kept on a server marked down with shutdown-sessions")
	}
	if k.closed || k.eof {
		t.Fatal("session closed without on-marked-down")
	}
	if !strings.Contains(h.log.String(), "is DOWN") {
		t.Errorf("log: %s", h.log)
	}
	for _, s := range h.sessions {
		if s.fe.cfg.Name == "l" && s.term != "DD" {
			t.Errorf("termination state %q, want DD", s.term)
		}
	}
}

// on-marked-up shutdown-backup-sessions: an active server coming back
// closes the sessions on backup servers.
func TestOnMarkedUpShutdownBackupSessions(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
    server a 127.0.0.1:6001 check inter 1s fall 1 rise 1 on-marked-up shutdown-backup-sessions
    server b 127.0.0.1:6002 backup
`), 0)
	h.server("127.0.0.1:6002", func() *peer { return &peer{} })
	h.start()
	h.advance(time.Second) // a has no listener: down
	c := h.dial("127.0.0.1:6000", &peer{})
	h.settle()
	if h.stot("l", "b") != 1 {
		t.Fatal("the backup did not take the session")
	}
	h.server("127.0.0.1:6001", func() *peer { return &peer{} })
	h.advance(time.Second)
	if !h.isUp("l", "a") {
		t.Fatal("a not up")
	}
	if !c.closed && !c.eof {
		t.Fatal("backup session kept after the active server came up")
	}
}

// Several connect rules: each opens its own connection (port, then
// addr:port), with its own reply; a port-less server is checked through
// the first rule's port.
func TestTCPCheckSeveralConnects(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:6000
    option tcp-check
    tcp-check comment first
    tcp-check connect port 6101
    tcp-check send one\r\n
    tcp-check expect string ONE
    tcp-check connect addr 127.0.0.2:6102 send-proxy
    tcp-check send-binary 74776f0d0a
    tcp-check expect binary 54574f
    server s 127.0.0.1 check inter 1s fall 1 rise 1
`), 0)
	var seen []string
	for addr, reply := range map[string]string{"127.0.0.1:6101": "ONE\r\n", "127.0.0.2:6102": "TWO\r\n"} {
		h.listen(addr, func() engine.Handler {
			return &scripted{reply: reply, seen: &seen}
		})
	}
	h.start()
	h.advance(time.Second)
	if r, ok := h.p.ServerCheck("l", "s"); !ok || r.Status != tcpcheck.L7OK {
		t.Fatalf("check: %+v %v", r, ok)
	}
	if len(seen) != 2 || seen[0] != "one\r\n" || !strings.HasPrefix(seen[1], "PROXY TCP4 127.0.0.2 127.0.0.2 ") || !strings.HasSuffix(seen[1], "\r\ntwo\r\n") {
		t.Fatalf("servers saw %q", seen)
	}
}

// scripted answers reply once it has read a line, and records it.
type scripted struct {
	reply string
	seen  *[]string
	buf   []byte
}

func (s *scripted) OnOpen(engine.Conn) {}
func (s *scripted) OnData(c engine.Conn, in []byte) int {
	s.buf = append(s.buf, in...)
	if bytes.HasSuffix(s.buf, []byte("\n")) && !bytes.HasPrefix(s.buf, []byte("PROXY")) || bytes.Count(s.buf, []byte("\n")) >= 2 {
		*s.seen = append(*s.seen, string(s.buf))
		_ = c.Write([]byte(s.reply))
		s.buf = nil
	}
	return len(in)
}
func (s *scripted) OnReadEOF(c engine.Conn)    { _ = c.Close() }
func (s *scripted) OnDrained(engine.Conn)      {}
func (s *scripted) OnClose(engine.Conn, error) {}
