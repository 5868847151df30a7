package proxy

import (
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// check-sni and check-alpn set what a check-ssl handshake sends, and
// with verify required the name is checked against the certificate; a
// check that passes on the TLS handshake alone is L6OK.
func TestTLSCheckSNIALPN(t *testing.T) {
	for _, tc := range []struct {
		name, opts string
		status     tcpcheck.Status
	}{
		{"names sent", "check-sni backend.test check-alpn h2,http/1.1 verify none", tcpcheck.L6OK},
		{"verified against check-sni", "check-sni backend.test verify required ca-file CA", tcpcheck.L6OK},
		{"wrong name fails", "check-sni other.test verify required ca-file CA", tcpcheck.L6RSP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newTLSHarness(t, func(th *tlsHarness) string {
				return cfgWith("listen l", "    bind 127.0.0.1:8000",
					"    server a 127.0.0.1:9001 check check-ssl inter 1s fall 1 rise 1 "+strings.Replace(tc.opts, "ca-file CA", "ca-file "+th.caF, 1))
			})
			var mu sync.Mutex
			var sni string
			var alpn []string
			srvCfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				mu.Lock()
				sni, alpn = h.ServerName, h.SupportedProtos
				mu.Unlock()
				return &tls.Config{Certificates: []tls.Certificate{th.back}, NextProtos: []string{"h2"}}, nil
			}}
			if _, err := th.e.Listen("127.0.0.1:9001", func(engine.Conn) engine.Handler {
				return tlsconn.Server(&peer{}, srvCfg, tlsconn.Options{Limiter: th.lim})
			}); err != nil {
				t.Fatal(err)
			}
			th.start()
			th.advance(time.Second)
			th.until(func() bool { _, ok := th.p.ServerCheck("l", "a"); return ok })
			r, _ := th.p.ServerCheck("l", "a")
			if r.Status != tc.status {
				t.Fatalf("check %+v, want %v", r, tc.status)
			}
			mu.Lock()
			defer mu.Unlock()
			if sni != "backend.test" && tc.status == tcpcheck.L6OK {
				t.Errorf("SNI %q", sni)
			}
			if tc.name == "names sent" && (len(alpn) != 2 || alpn[0] != "h2" || alpn[1] != "http/1.1") {
				t.Errorf("ALPN %q", alpn)
			}
		})
	}
}
