package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics carry HAProxy's exporter names and the live counters.
func TestMetrics(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server s1 127.0.0.1:9000 check inter 1s fall 1
    server s2 127.0.0.1:9009 check inter 1s fall 1
`), 0)
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector{h.p}); err != nil {
		t.Fatal(err)
	}
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	h.advance(time.Second) // s2 (nothing listening) fails its check: down
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = cli.conn.Write([]byte("12345"))
	h.settle()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[key] = v
		}
	}
	for key, want := range map[string]float64{
		"haproxy_frontend_bytes_in_total,proxy=l":               5,
		"haproxy_frontend_current_sessions,proxy=l":             1,
		"haproxy_frontend_sessions_total,proxy=l":               1,
		"haproxy_backend_bytes_in_total,proxy=l":                5,
		"haproxy_server_bytes_in_total,proxy=l,server=s1":       5,
		"haproxy_server_current_sessions,proxy=l,server=s1":     1,
		"haproxy_server_status,proxy=l,server=s1":               1,
		"haproxy_server_status,proxy=l,server=s2":               0,
		"haproxy_server_check_failures_total,proxy=l,server=s2": 1,
		"haproxy_backend_active_servers,proxy=l":                1,
		"haproxy_backend_status,proxy=l":                        1,
		"haproxy_backend_current_queue,proxy=l":                 0,
		"haproxy_backend_connection_errors_total,proxy=l":       0,
	} {
		v, ok := got[key]
		if !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if len(got) < 30 {
		t.Errorf("only %d series", len(got))
	}
}

// option tcplog with a log line: one HAProxy-format line per session.
func TestTCPLog(t *testing.T) {
	h := newHarness(t, cfgWith(`
global
    log stderr local0
listen l
    bind 127.0.0.1:8000
    option tcplog
    server s1 127.0.0.1:9000
`), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9000")
	_ = srv.conn.Write([]byte("hello"))
	_ = srv.conn.CloseWrite()
	_ = cli.conn.CloseWrite()
	h.settle()
	h.advance(10 * time.Millisecond)
	line := strings.TrimSpace(h.log.String())
	// "127.0.0.1:32768 [01/Jan/2000:00:00:00.000] l l/s1 0/0/10 5 -- 1/1/0/0/0 0/0"
	// (haproxy 2.6 logs a lone session's counts as 1/1/0/0/0: backend
	// and server already released, frontend and process not yet).
	f := strings.Fields(line)
	if len(f) != 9 || f[2] != "l" || f[3] != "l/s1" || f[5] != "5" || f[6] != "--" || f[7] != "1/1/0/0/0" {
		t.Fatalf("tcplog line %q", line)
	}
}

// timeout tunnel replaces client/server once connected.
func TestTunnelTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg, "    timeout tunnel 1h"), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	h.advance(30 * time.Minute) // way past timeout client/server (10s)
	if h.p.Sessions() != 1 {
		t.Fatal("tunnel session closed by timeout client/server")
	}
	h.advance(31 * time.Minute)
	if h.p.Sessions() != 0 {
		t.Fatal("idle tunnel not closed after timeout tunnel")
	}
}
