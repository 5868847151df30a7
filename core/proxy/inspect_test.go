package proxy

import (
	"bytes"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/tlshello/hellotest"
)

// TLS passthrough routed by SNI: the most common content-rule setup.
const sniCfg = `
frontend fe
    bind 127.0.0.1:8443
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend bk_a if { req.ssl_sni -i a.example }
    default_backend bk_def
backend bk_a
    server a 127.0.0.1:9001
backend bk_def
    server d 127.0.0.1:9002
`

func sniHarness(t *testing.T, cfg string) *harness {
	h := newHarness(t, cfgWith(cfg), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	return h
}

func hello(t *testing.T, sni string) []byte {
	t.Helper()
	b, err := hellotest.Capture(&tls.Config{ServerName: sni, InsecureSkipVerify: sni == ""})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContentSNIRouting(t *testing.T) {
	for _, tc := range []struct {
		name, sni string
		want      string // server address
	}{
		{"a", "a.example", "127.0.0.1:9001"},
		{"a upper", "A.EXAMPLE", "127.0.0.1:9001"},
		{"other", "b.example", "127.0.0.1:9002"},
		{"none", "", "127.0.0.1:9002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sniHarness(t, sniCfg)
			cli := h.dial("127.0.0.1:8443", &peer{})
			h.settle()
			b := hello(t, tc.sni)
			_ = cli.conn.Write(b)
			h.settle()
			srv := h.only(tc.want)
			if !bytes.Equal(srv.data.Bytes(), b) {
				t.Fatalf("server got %d bytes, want the %d-byte hello", srv.data.Len(), len(b))
			}
		})
	}
}

// A ClientHello written one byte at a time: no backend is chosen until it
// is whole, then it is routed by its SNI and every byte arrives.
func TestContentHelloByteByByte(t *testing.T) {
	h := sniHarness(t, sniCfg)
	cli := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	b := hello(t, "a.example")
	for i := range b {
		if n := len(h.servers["127.0.0.1:9001"]) + len(h.servers["127.0.0.1:9002"]); n != 0 {
			t.Fatalf("a server was contacted after %d of %d bytes", i, len(b))
		}
		_ = cli.conn.Write(b[i : i+1])
		h.settle()
	}
	srv := h.only("127.0.0.1:9001")
	if !bytes.Equal(srv.data.Bytes(), b) {
		t.Fatalf("server got %d bytes, want %d", srv.data.Len(), len(b))
	}
	// The session then relays as usual.
	_ = srv.conn.Write([]byte("server hello"))
	h.settle()
	if cli.data.String() != "server hello" {
		t.Fatalf("client got %q", cli.data.String())
	}
}

// inspect-delay bounds the wait: a client that sends nothing, or part of
// a hello, is routed when it expires, with what it sent.
func TestInspectDelayExpiry(t *testing.T) {
	h := sniHarness(t, sniCfg)
	silent := h.dial("127.0.0.1:8443", &peer{})
	partial := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	b := hello(t, "a.example")
	_ = partial.conn.Write(b[:40])
	h.settle()
	h.advance(4999 * time.Millisecond)
	h.settle()
	if n := len(h.servers["127.0.0.1:9001"]) + len(h.servers["127.0.0.1:9002"]); n != 0 {
		t.Fatalf("%d server connections before inspect-delay expired", n)
	}
	h.advance(time.Millisecond)
	h.settle()
	if n := len(h.servers["127.0.0.1:9002"]); n != 2 || len(h.servers["127.0.0.1:9001"]) != 0 {
		t.Fatalf("after the delay: %d on the default backend, want 2", n)
	}
	got := h.servers["127.0.0.1:9002"][0].data.Len() + h.servers["127.0.0.1:9002"][1].data.Len()
	if got != 40 {
		t.Fatalf("the partial hello's 40 bytes were not forwarded (%d)", got)
	}
	if silent.eof || partial.eof {
		t.Fatal("a client was closed")
	}
}

// timeout client still applies while inspecting.
func TestInspectClientTimeout(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8443
    timeout client 1s
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    default_backend bk_def
backend bk_def
    server d 127.0.0.1:9002
`)
	cli := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	h.advance(time.Second)
	h.settle()
	if !cli.eof && !cli.closed {
		t.Fatal("client not closed at timeout client")
	}
	if len(h.servers["127.0.0.1:9002"]) != 0 {
		t.Fatal("a server was contacted")
	}
}

// Client EOF makes the data final: the rules decide on what is there.
func TestInspectClientEOF(t *testing.T) {
	h := sniHarness(t, sniCfg)
	cli := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	_ = cli.conn.Write([]byte{0x16, 3, 1})
	_ = cli.conn.CloseWrite()
	h.settle()
	srv := h.only("127.0.0.1:9002")
	if srv.data.Len() != 3 || !srv.eof {
		t.Fatalf("server got %d bytes eof=%v", srv.data.Len(), srv.eof)
	}
}

// A full buffer ends the wait, and nothing is lost. Full is tune.bufsize
// less HAProxy's rewrite reserve (1024): 15360 bytes, where haproxy 2.6
// decides too (checked against it).
func TestInspectBufferFull(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8443
    tcp-request inspect-delay 10s
    tcp-request content reject if { req.len lt 100000 } !{ req.len ge 15360 }
    use_backend bk_def if { req.len 15360 }
    default_backend bk_a
backend bk_def
    server d 127.0.0.1:9002
backend bk_a
    server a 127.0.0.1:9001
`)
	cli := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	want := pattern(40000, 5)
	for off := 0; off < len(want); {
		n := min(4096, len(want)-off)
		if err := cli.conn.Write(want[off : off+n]); err != nil {
			h.settle()
			continue
		}
		off += n
		h.settle()
	}
	h.settle()
	srv := h.only("127.0.0.1:9002")
	if !bytes.Equal(srv.data.Bytes(), want) {
		t.Fatalf("server got %d bytes, want %d", srv.data.Len(), len(want))
	}
}

func TestContentReject(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8000
    tcp-request inspect-delay 5s
    tcp-request content reject if { req.payload(0,4) -m str EVIL }
    tcp-request content accept if { req.len ge 4 }
    default_backend bk_def
backend bk_def
    server d 127.0.0.1:9002
`)
	bad := h.dial("127.0.0.1:8000", &peer{})
	good := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = bad.conn.Write([]byte("EV"))
	_ = good.conn.Write([]byte("GO"))
	h.settle()
	if bad.eof || len(h.servers["127.0.0.1:9002"]) != 0 {
		t.Fatal("decided on two bytes")
	}
	_ = bad.conn.Write([]byte("IL!"))
	_ = good.conn.Write([]byte("OD!"))
	h.settle()
	if !bad.eof && !bad.closed {
		t.Fatal("EVIL client not closed")
	}
	srv := h.only("127.0.0.1:9002")
	if srv.data.String() != "GOOD!" {
		t.Fatalf("server got %q", srv.data.String())
	}
	if st, _ := h.p.FrontendStats("fe"); st.Dreq != 1 || st.Stot != 2 {
		t.Fatalf("frontend stats %+v", st)
	}
}

// use_backend on a payload prefix (a protocol switch on one port).
func TestPayloadRouting(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8000
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.len ge 4 }
    use_backend bk_a if { req.payload(0,4) -m bin 50494e47 }
    default_backend bk_def
backend bk_a
    server a 127.0.0.1:9001
backend bk_def
    server d 127.0.0.1:9002
`)
	ping := h.dial("127.0.0.1:8000", &peer{})
	other := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = ping.conn.Write([]byte("PING\r\n"))
	_ = other.conn.Write([]byte("GET / HTTP/1.0\r\n"))
	h.settle()
	if a, d := h.only("127.0.0.1:9001"), h.only("127.0.0.1:9002"); a.data.String() != "PING\r\n" || d.data.String() != "GET / HTTP/1.0\r\n" {
		t.Fatalf("a got %q, default got %q", a.data.String(), d.data.String())
	}
}

// A backend's own content rules run after it is chosen.
func TestBackendContentRules(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8000
    default_backend bk_def
backend bk_def
    tcp-request inspect-delay 5s
    tcp-request content reject if { req.payload(0,1) -m str X }
    server d 127.0.0.1:9002
`)
	bad := h.dial("127.0.0.1:8000", &peer{})
	good := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = bad.conn.Write([]byte("X1"))
	_ = good.conn.Write([]byte("Y1"))
	h.settle()
	if !bad.eof && !bad.closed {
		t.Fatal("rejected client still open")
	}
	if srv := h.only("127.0.0.1:9002"); srv.data.String() != "Y1" {
		t.Fatalf("server got %q", srv.data.String())
	}
	if st, _ := h.p.BackendStats("bk_def"); st.Dreq != 1 {
		t.Fatalf("backend stats %+v", st)
	}
}

// On an accept-proxy bind the content rules see the bytes after the
// header, which may arrive in the same segment.
func TestAcceptProxyThenContent(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8443 accept-proxy
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend bk_a if { req.ssl_sni -i a.example } { src 192.0.2.0/24 }
    default_backend bk_def
backend bk_a
    server a 127.0.0.1:9001
backend bk_def
    server d 127.0.0.1:9002
`)
	cli := h.dial("127.0.0.1:8443", &peer{})
	h.settle()
	b := hello(t, "a.example")
	_ = cli.conn.Write(append([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 40001 443\r\n"), b...))
	h.settle()
	if srv := h.only("127.0.0.1:9001"); !bytes.Equal(srv.data.Bytes(), b) {
		t.Fatalf("server got %d bytes, want %d", srv.data.Len(), len(b))
	}
}

// Every pass evaluates the rules from the first, as HAProxy does: a rule
// that did not apply on partial data (req.len lt 4 held, so its negation
// failed) is evaluated again on more data and decides once the data is
// final, although a later rule would have accepted meanwhile.
func TestInspectRulesFromTheTop(t *testing.T) {
	h := sniHarness(t, `
frontend fe
    bind 127.0.0.1:8000
    tcp-request inspect-delay 5s
    tcp-request content reject if !{ req.len lt 4 }
    tcp-request content accept if { req.len gt 20 }
    default_backend bk_def
backend bk_def
    server d 127.0.0.1:9002
`)
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = cli.conn.Write([]byte("abc"))
	h.settle()
	_ = cli.conn.Write(bytes.Repeat([]byte("x"), 30))
	h.settle()
	if cli.eof || len(h.servers["127.0.0.1:9002"]) != 0 {
		t.Fatalf("decided before the data was final (eof %v, servers %d)", cli.eof, len(h.servers["127.0.0.1:9002"]))
	}
	h.advance(5 * time.Second)
	h.settle()
	if !cli.eof && !cli.closed {
		t.Fatal("not rejected when the delay expired")
	}
	if len(h.servers["127.0.0.1:9002"]) != 0 {
		t.Fatal("a server was contacted")
	}
}

// A content reject is logged as haproxy 2.6 logs it (checked against it):
// "fe fe/<NOSRV> -1/-1/0 0 PR 1/1/0/0/0 0/0".
func TestContentRejectLog(t *testing.T) {
	h := sniHarness(t, `
global
    log stderr local0
frontend fe
    bind 127.0.0.1:8000
    option tcplog
    tcp-request inspect-delay 1s
    tcp-request content reject if { req.payload(0,4) -m str EVIL }
    default_backend bk_def
backend bk_def
    server d 127.0.0.1:9002
`)
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	_ = cli.conn.Write([]byte("EVIL"))
	h.settle()
	f := strings.Fields(strings.TrimSpace(h.log.String()))
	if len(f) != 9 || strings.Join(f[2:], " ") != "fe fe/<NOSRV> -1/-1/0 0 PR 1/1/0/0/0 0/0" {
		t.Fatalf("log line %q", h.log.String())
	}
}

// use_backend %[req.ssl_sni,lower,map_dom(FILE,DEFAULT)]: the common TLS
// passthrough setup for many names. A name that is no backend ends the
// rules and the default backend serves, as in haproxy 2.6 (checked).
func TestDynamicUseBackend(t *testing.T) {
	m := t.TempDir() + "/sni.map"
	if err := os.WriteFile(m, []byte("a.example bk_a\nghost.example bk_ghost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `
frontend fe
    bind 127.0.0.1:8443
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend %[req.ssl_sni,lower,map_dom(` + m + `,bk_def)]
    use_backend bk_a if TRUE
    default_backend bk_def
backend bk_a
    server a 127.0.0.1:9001
backend bk_def
    server d 127.0.0.1:9002
`
	for _, tc := range []struct{ sni, want string }{
		{"A.Example", "127.0.0.1:9001"},
		{"www.a.example", "127.0.0.1:9001"},
		{"other.example", "127.0.0.1:9002"}, // the map's default
		{"ghost.example", "127.0.0.1:9002"}, // no such backend: default, not the next rule
	} {
		t.Run(tc.sni, func(t *testing.T) {
			h := sniHarness(t, cfg)
			cli := h.dial("127.0.0.1:8443", &peer{})
			h.settle()
			_ = cli.conn.Write(hello(t, tc.sni))
			h.settle()
			h.only(tc.want)
		})
	}
}
