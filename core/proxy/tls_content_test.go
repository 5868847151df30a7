package proxy

import (
	"crypto/tls"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
)

// Content rules on an ssl bind run after the handshake: ssl_fc and
// ssl_fc_sni read the session's TLS state, req.* the plaintext. A plain
// bind of the same frontend has no TLS (ssl_fc false).
func TestTLSContentRules(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return cfgWith(`
frontend fe
    bind 127.0.0.1:8443 ssl crt ` + th.crt + `
    bind 127.0.0.1:8000
    tcp-request inspect-delay 5s
    tcp-request content reject unless { ssl_fc }
    tcp-request content accept if { req.payload(0,5) -m str hello }
    use_backend bk_a if { ssl_fc_sni -i PROXY.test } { req.ssl_sni -m found } || { ssl_fc_sni -i proxy.test } !{ req.ssl_hello_type 1 }
    default_backend bk_def
backend bk_a
    server a 10.0.0.1:80
backend bk_def
    server d 10.0.0.2:80
`)
	})
	th.server("10.0.0.1:80", func() *peer { return &peer{} })
	th.server("10.0.0.2:80", func() *peer { return &peer{} })
	th.start()
	dialTLS := func(cfg *tls.Config) *peer {
		cli := &peer{onOpen: func(c engine.Conn) { _ = c.Write([]byte("hello")) }}
		if _, err := th.e.Dial("127.0.0.1:8443", tlsconn.Client(cli, cfg, tlsconn.Options{Limiter: th.lim}), engine.DialOptions{}); err != nil {
			t.Fatal(err)
		}
		return cli
	}
	dialTLS(th.clientCfg())
	th.until(func() bool {
		return len(th.servers["10.0.0.1:80"]) == 1 && th.servers["10.0.0.1:80"][0].data.Len() == 5
	})
	if got := th.servers["10.0.0.1:80"][0].data.String(); got != "hello" {
		t.Fatalf("bk_a got %q: the content rules must see plaintext", got)
	}
	other := th.clientCfg()
	other.ServerName, other.InsecureSkipVerify = "other.test", true
	dialTLS(other)
	th.until(func() bool {
		return len(th.servers["10.0.0.2:80"]) == 1 && th.servers["10.0.0.2:80"][0].data.Len() == 5
	})

	plain := th.dial("127.0.0.1:8000", &peer{})
	th.settle()
	_ = plain.conn.Write([]byte("hello"))
	th.until(func() bool { return plain.eof || plain.closed })
	if n := len(th.servers["10.0.0.1:80"]) + len(th.servers["10.0.0.2:80"]); n != 2 {
		t.Fatalf("the plain client reached a server (%d connections)", n)
	}
	if st, _ := th.p.FrontendStats("fe"); st.Dreq != 1 {
		t.Fatalf("frontend stats %+v", st)
	}
}
