package proxy

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"github.com/prometheus/client_golang/prometheus"
)

var entryPtr = regexp.MustCompile(`(?m)^0x[0-9a-f]+:`)

// dumpTable is "show table NAME" with the entry addresses masked.
func (h *harness) dumpTable(name string) string {
	h.t.Helper()
	t := h.p.Table(name)
	if t == nil {
		h.t.Fatalf("no table %q", name)
	}
	var b bytes.Buffer
	if err := t.Dump(&b, nil); err != nil {
		h.t.Fatal(err)
	}
	return entryPtr.ReplaceAllString(b.String(), "0xP:")
}

// Issue 16's acceptance case, deterministic: with conn_rate(10s) and
// "reject if { sc_conn_rate(0) gt 20 }" the 21st connection from one
// source within the period is rejected (no server contacted) while
// another source is served; two periods later the source is served again.
func TestStickConnRateLimit(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type ip size 100k expire 30s store conn_cnt,conn_rate(10s),conn_cur,bytes_in_cnt,bytes_out_cnt
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc_conn_rate(0) gt 20 }
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{echo: true} })
	h.start()
	var clients []*peer
	for i := 0; i < 20; i++ {
		clients = append(clients, h.dial("127.0.0.1:8000", &peer{}))
		h.settle()
	}
	if n := len(h.servers["127.0.0.1:9001"]); n != 20 {
		t.Fatalf("20 connections reached the server %d times", n)
	}
	bad := h.dial("127.0.0.1:8000", &peer{})
	other := h.dial("127.0.0.2:8000", &peer{})
	h.settle()
	if !bad.eof && !bad.closed {
		t.Fatal("the 21st connection within the period was not rejected")
	}
	if other.eof || other.closed || len(h.servers["127.0.0.1:9001"]) != 21 {
		t.Fatalf("the other source: eof %v closed %v, server conns %d", other.eof, other.closed, len(h.servers["127.0.0.1:9001"]))
	}
	if st, _ := h.p.FrontendStats("fe"); st.Dcon != 1 {
		t.Fatalf("denied %d, want 1", st.Dcon)
	}
	_ = clients[0].conn.Write([]byte("hello"))
	h.settle()
	want := "# table: fe, type: ip, size:102400, used:2\n" +
		"0xP: key=127.0.0.1 use=20 exp=30000 conn_cnt=21 conn_rate(10000)=21 conn_cur=20 bytes_in_cnt=5 bytes_out_cnt=5\n" +
		"0xP: key=127.0.0.2 use=1 exp=30000 conn_cnt=1 conn_rate(10000)=1 conn_cur=1 bytes_in_cnt=0 bytes_out_cnt=0\n"
	if got := h.dumpTable("fe"); got != want {
		t.Fatalf("show table:\n%s\nwant:\n%s", got, want)
	}
	// Two periods later (the idle clients have timed out meanwhile) the
	// rate has decayed: the source is served again.
	h.advance(20 * time.Second)
	again := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if again.eof || again.closed || len(h.servers["127.0.0.1:9001"]) != 22 {
		t.Fatalf("after two periods: eof %v, server conns %d", again.eof, len(h.servers["127.0.0.1:9001"]))
	}
	if v, found, _ := h.p.Table("fe").Read(mustKey(t, h, "fe", "127.0.0.1"), sticktable.ConnCur); !found || v != 1 {
		t.Fatalf("conn_cur %d after the timed-out sessions ended, want 1", v)
	}
}

func mustKey(t *testing.T, h *harness, table, s string) sticktable.Key {
	t.Helper()
	k, err := h.p.Table(table).ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A table of size 1000 fed 100,000 sources through the proxy stays at
// 1,000 entries; the evictions are counted in the metrics.
func TestStickTableSizeBounded(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type ip size 1000 expire 1h store conn_cnt
    tcp-request connection track-sc0 src
    tcp-request connection reject
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.start()
	tb := h.p.Table("fe")
	for i := 0; i < 100000; i++ {
		h.dial(fmt.Sprintf("10.%d.%d.%d:8000", i>>16, (i>>8)&255, i&255), &peer{})
		if i%500 == 499 {
			h.settle()
			if n := tb.Len(); n > 1000 {
				t.Fatalf("after %d sources: %d entries", i+1, n)
			}
		}
	}
	h.settle()
	st := tb.Stats()
	if st.Used != 1000 || st.Evicted != 99000 {
		t.Fatalf("table stats %+v, want 1000 used and 99000 evicted", st)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector{h.p}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "haproxy_sticktable_") {
			for _, m := range mf.GetMetric() {
				got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	if got["haproxy_sticktable_used"] != 1000 || got["haproxy_sticktable_size"] != 1000 || got["haproxy_sticktable_evicted_total"] != 99000 {
		t.Fatalf("metrics %v", got)
	}
}

// stick on src: a source keeps its server while round robin would
// alternate; its entry names the server (server_id, server_key); when that
// server goes down the entry is not used and the new server is stored.
func TestStickOnSrc(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 100 expire 30m
    stick on src
    server a 127.0.0.1:9001 check inter 1s fall 1 rise 1
    server b 127.0.0.1:9002 check inter 1s fall 1 rise 1
`), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	for i := 0; i < 3; i++ {
		h.dial("10.0.0.1:8000", &peer{})
		h.settle()
	}
	h.dial("10.0.0.2:8000", &peer{})
	h.settle()
	if c := h.counts(ab...); c[0] != 3 || c[1] != 1 {
		t.Fatalf("stick on src: servers got %v, want [3 1]", c)
	}
	want := "# table: be, type: ip, size:100, used:2\n" +
		"0xP: key=10.0.0.1 use=0 exp=1800000 server_id=1 server_key=a\n" +
		"0xP: key=10.0.0.2 use=0 exp=1800000 server_id=2 server_key=b\n"
	if got := h.dumpTable("be"); got != want {
		t.Fatalf("show table:\n%s\nwant:\n%s", got, want)
	}
	h.killServer("127.0.0.1:9001")
	h.advance(time.Second)
	if _, up, _ := h.p.ServerStats("be", "a"); up {
		t.Fatal("server a still up")
	}
	before := h.counts(ab...) // b has had health checks meanwhile
	h.dial("10.0.0.1:8000", &peer{})
	h.settle()
	if c := h.counts(ab...); c[1] != before[1]+1 {
		t.Fatalf("with a down, 10.0.0.1 went to %v (before %v)", c, before)
	}
	if id, key, _ := h.p.Table("be").ReadServer(mustKey(t, h, "be", "10.0.0.1")); id != 2 || key != "b" {
		t.Fatalf("entry after failover: server_id %d key %q", id, key)
	}
}

// silent-drop closes the client with a reset (the engine's Aborter), not
// a FIN, and contacts no server; sc-inc-gpc0 counts into the tracked
// entry and sc0_get_gpc0 reads it.
func TestSilentDropAndGPC0(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type ip size 10 store gpc0
    tcp-request connection track-sc0 src
    tcp-request connection sc-inc-gpc0(0)
    tcp-request connection silent-drop if { sc0_get_gpc0 gt 2 }
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	var ps []*peer
	for i := 0; i < 3; i++ {
		ps = append(ps, h.dial("127.0.0.1:8000", &peer{}))
		h.settle()
	}
	if ps[0].closed || ps[1].closed || !ps[2].closed || ps[2].eof {
		t.Fatalf("closed %v %v %v, eof of the dropped one %v", ps[0].closed, ps[1].closed, ps[2].closed, ps[2].eof)
	}
	if !strings.Contains(fmt.Sprint(ps[2].closeErr), "reset") {
		t.Fatalf("dropped client closed with %v, want a reset", ps[2].closeErr)
	}
	if n := len(h.servers["127.0.0.1:9001"]); n != 2 {
		t.Fatalf("server saw %d connections", n)
	}
	if v, _, _ := h.p.Table("fe").Read(mustKey(t, h, "fe", "127.0.0.1"), sticktable.GPC0); v != 3 {
		t.Fatalf("gpc0 %d", v)
	}
	_ = engine.Aborter(nil)
}

// The classic per-source concurrency limit: sc0_conn_cur counts the live
// sessions of the source (this one included); a closed session frees its
// place at once (conn_cur goes down at session end).
func TestStickConnCurLimit(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type ip size 10 store conn_cur
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc0_conn_cur gt 2 } || { src_conn_cur gt 2 }
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	a, b := h.dial("10.0.0.1:8000", &peer{}), h.dial("10.0.0.1:8000", &peer{})
	h.settle()
	c := h.dial("10.0.0.1:8000", &peer{})
	h.settle()
	gone := func(p *peer) bool { return p.eof || p.closed }
	if gone(a) || gone(b) || !gone(c) {
		t.Fatalf("closed: %v %v, third %v", gone(a), gone(b), gone(c))
	}
	h.e.InjectReset(a.conn) // the session ends at once
	h.settle()
	d := h.dial("10.0.0.1:8000", &peer{})
	h.settle()
	if gone(d) {
		t.Fatal("a place freed by a closed session was not reused")
	}
	if v, _, _ := h.p.Table("fe").Read(mustKey(t, h, "fe", "10.0.0.1"), sticktable.ConnCur); v != 2 {
		t.Fatalf("conn_cur %d, want 2", v)
	}
}

// Content rules track a key that needs request bytes: the rule waits for
// them (inspect-delay), tracks once, and a later condition reads it.
func TestStickContentTrack(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type string len 4 size 10 store conn_cnt,gpc0
    tcp-request inspect-delay 5s
    tcp-request content track-sc2 req.payload(0,4)
    tcp-request content sc-inc-gpc0(2)
    tcp-request content reject if { sc2_get_gpc0 gt 1 }
    default_backend be
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	c1 := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = c1.conn.Write([]byte("ab"))
	h.settle()
	if len(h.servers["127.0.0.1:9001"]) != 0 || h.p.Table("fe").Len() != 0 {
		t.Fatal("tracked before the key's bytes arrived")
	}
	_ = c1.conn.Write([]byte("cdef"))
	h.settle()
	if len(h.servers["127.0.0.1:9001"]) != 1 {
		t.Fatal("first session not served")
	}
	c2 := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = c2.conn.Write([]byte("abcdXYZ"))
	h.settle()
	if !c2.eof || len(h.servers["127.0.0.1:9001"]) != 1 {
		t.Fatalf("second session with the same key: eof %v", c2.eof)
	}
	want := "# table: fe, type: string, size:10, used:1\n0xP: key=abcd use=1 exp=0 gpc0=2 conn_cnt=2\n"
	if got := h.dumpTable("fe"); got != want {
		t.Fatalf("show table:\n%s\nwant:\n%s", got, want)
	}
}

// Keys are cast to the table's type as HAProxy's smp_to_stkey does: an
// address into an integer table is its 32-bit value, into a string table
// its text; an integer into an ip table is an IPv4 address.
func TestStickKeyCasts(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    stick-table type integer size 10
    tcp-request connection track-sc0 src
    tcp-request connection track-sc1 src table s
    tcp-request connection track-sc2 dst_port table i
    default_backend be
backend s
    stick-table type string len 6 size 10
backend i
    stick-table type ip size 10
backend be
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	h.dial("10.0.0.1:8000", &peer{})
	h.settle()
	for name, want := range map[string]string{
		"fe": "# table: fe, type: integer, size:10, used:1\n0xP: key=167772161 use=1 exp=0\n",
		"s":  "# table: s, type: string, size:10, used:1\n0xP: key=10.0.0 use=1 exp=0\n",
		"i":  "# table: i, type: ip, size:10, used:1\n0xP: key=0.0.31.64 use=1 exp=0\n",
	} {
		if got := h.dumpTable(name); got != want {
			t.Errorf("table %s:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

// On an accept-proxy bind the connection rules track the socket's source
// (HAProxy runs them before the header), while stick rules and content
// tracking see the header's source.
func TestStickAcceptProxySources(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 127.0.0.1:8000 accept-proxy
    stick-table type ip size 10 store conn_cnt
    tcp-request connection track-sc0 src
    tcp-request content track-sc1 src table be
    default_backend be
backend be
    stick-table type ip size 10 store conn_cnt
    stick on src
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = cli.conn.Write([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 40001 443\r\nhello"))
	h.settle()
	if got := h.dumpTable("fe"); !strings.Contains(got, "key=127.0.0.1 use=1") || strings.Contains(got, "192.0.2.1") {
		t.Errorf("connection rules tracked:\n%s", got)
	}
	if got := h.dumpTable("be"); !strings.Contains(got, "key=192.0.2.1 use=1 exp=0 server_id=1 conn_cnt=1 server_key=a") || strings.Contains(got, "127.0.0.1") {
		t.Errorf("content tracking and stick on:\n%s", got)
	}
}
