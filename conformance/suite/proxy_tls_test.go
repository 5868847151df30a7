package suite

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
)

// TLS proxy cases (spec/proxy.md §10): termination on bind ssl,
// origination on server ssl, the certificate chosen by SNI, and
// verification failures. Certificates are made per case with crypto/x509;
// openssl s_client is the client where a second TLS stack helps.

func init() { proxyCases = append(proxyCases, proxyTLSCases...) }

// tlsFiles are one case's certificates, as files HAProxy reads.
type tlsFiles struct {
	ca                *tlstest.CA
	caFile            string
	crtA, crtB        string // proxy.test (default), other.test
	backend           tls.Certificate
	clientOK, clientX tls.Certificate // signed by ca / by a stranger
}

func newTLSFiles(t *harness.T) *tlsFiles {
	t.Helper()
	tb := testing.TB(t.T)
	dir := t.TempDir()
	f := &tlsFiles{ca: tlstest.MustCA(tb, tlstest.ECDSAP256, "conformance CA")}
	f.caFile = tlstest.WriteFile(tb, dir, "ca.pem", f.ca.PEM)
	f.crtA = tlstest.WriteFile(tb, dir, "a.pem", f.ca.MustIssue(tb, tlstest.ECDSAP256, "proxy.test").PEM)
	f.crtB = tlstest.WriteFile(tb, dir, "b.pem", f.ca.MustIssue(tb, tlstest.RSA2048, "other.test").PEM)
	f.backend = f.ca.MustIssue(tb, tlstest.ECDSAP256, "backend.test").Cert
	f.clientOK = f.ca.MustIssue(tb, tlstest.ECDSAP256, "good client").Cert
	f.clientX = tlstest.MustCA(tb, tlstest.ECDSAP256, "stranger").MustIssue(tb, tlstest.ECDSAP256, "bad client").Cert
	return f
}

// tlsBackend is a crypto/tls echo server with the backend certificate; it
// reports the SNI of each connection on sni (if not nil).
func (f *tlsFiles) tlsBackend(t *harness.T, sni chan string) *backend {
	cfg := &tls.Config{Certificates: []tls.Certificate{f.backend}}
	return newBackend(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if sni != nil {
			select {
			case sni <- tc.ConnectionState().ServerName:
			default:
			}
		}
		_, _ = io.Copy(tc, tc)
		_ = tc.CloseWrite()
	})
}

// tlsDial runs a crypto/tls handshake with the proxy.
func tlsDial(t *harness.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c := dial(t, addr, "")
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	err := tc.Handshake()
	_ = tc.SetDeadline(time.Time{})
	return tc, err
}

// sClient runs openssl s_client against addr with SNI name and returns
// what it printed (the peer certificate's subject among it).
func sClient(t *harness.T, addr, name, caFile string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "openssl", "s_client", "-connect", addr,
		"-servername", name, "-CAfile", caFile, "-verify_return_error").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Verify return code: 0") {
		t.Fatalf("openssl s_client -servername %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// echoBoth writes msg while reading the echo back (a write-then-read of
// more than the sockets' buffers could deadlock on any relay), within d.
func echoBoth(c net.Conn, msg []byte, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	if err != nil {
		return fmt.Errorf("read %d of %d bytes: %w", n, len(msg), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo differs")
	}
	return nil
}

var proxyTLSCases = []harness.Case{
	pc("proxy-tls-bind-ssl", "spec/proxy.md §10 (bind ssl crt, alpn)",
		"bind ssl crt: a crypto/tls client verifies the certificate against the CA, negotiates ALPN http/1.1 and its bytes reach a plain backend and come back",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" alpn h2,http/1.1", "", "", be.addr()))
			c, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test", NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if alpn := c.ConnectionState().NegotiatedProtocol; alpn != "http/1.1" {
				t.Errorf("ALPN %q, want http/1.1", alpn)
			}
			msg := randBytes(100 << 10)
			if err := echoBoth(c, msg, 10*time.Second); err != nil {
				t.Fatalf("100 KiB echo: %v", err)
			}
		}),
	pc("proxy-tls-bind-ssl-openssl", "spec/proxy.md §10 (bind ssl crt; a second TLS stack)",
		"openssl s_client completes a handshake with bind ssl and verifies the chain (Verify return code: 0)",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA, "", "", be.addr()))
			out := sClient(t, p.Addr(0), "proxy.test", f.caFile)
			if !strings.Contains(out, "Verify return code: 0") || !strings.Contains(out, "proxy.test") {
				t.Fatalf("s_client output lacks a verified proxy.test certificate:\n%s", out)
			}
		}),
	pc("proxy-tls-sni-cert", "spec/proxy.md §10 (crt chosen by SNI among several)",
		"bind ssl crt a.pem crt b.pem: SNI other.test gets other.test's certificate (openssl s_client), SNI proxy.test and an unknown name get the first",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" crt "+f.crtB, "", "", be.addr()))
			for _, c := range []struct{ sni, want string }{{"other.test", "other.test"}, {"proxy.test", "proxy.test"}, {"unknown.test", "proxy.test"}} {
				cfg := &tls.Config{RootCAs: f.ca.Pool, ServerName: c.sni, InsecureSkipVerify: true}
				tc, err := tlsDial(t, p.Addr(0), cfg)
				if err != nil {
					t.Fatalf("SNI %s: %v", c.sni, err)
				}
				if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != c.want {
					t.Errorf("SNI %s: certificate %q, want %q", c.sni, cn, c.want)
				}
				_ = tc.Close()
			}
			if out := sClient(t, p.Addr(0), "other.test", f.caFile); !strings.Contains(out, "CN = other.test") && !strings.Contains(out, "CN=other.test") {
				t.Errorf("openssl s_client with SNI other.test did not get other.test:\n%s", out)
			}
		}),
	pc("proxy-tls-server-ssl", "spec/proxy.md §10 (server ssl verify required ca-file sni)",
		"server ssl verify required ca-file sni str(backend.test): a plain client's bytes reach a TLS backend that sees SNI backend.test, and come back",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			sni := make(chan string, 1)
			be := f.tlsBackend(t, sni)
			p := startProxy(t, e, simpleCfg("", "", "", be.addr()+" ssl verify required ca-file "+f.caFile+" sni str(backend.test)"))
			c := dial(t, p.Addr(0), "")
			msg := randBytes(100 << 10)
			if err := echoBoth(c, msg, 10*time.Second); err != nil {
				t.Fatalf("100 KiB echo: %v", err)
			}
			if got := <-sni; got != "backend.test" {
				t.Errorf("backend saw SNI %q, want backend.test", got)
			}
		}),
	pc("proxy-tls-both", "spec/proxy.md §10 (bind ssl → server ssl, sni ssl_fc_sni)",
		"bind ssl → server ssl sni ssl_fc_sni: 1 MiB each way; the backend sees the client's SNI",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			sni := make(chan string, 1)
			be := f.tlsBackend(t, sni)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA, "", "", be.addr()+" ssl verify none sni ssl_fc_sni"))
			c, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test"})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			msg := randBytes(1 << 20)
			if err := echoBoth(c, msg, 10*time.Second); err != nil {
				t.Fatalf("1 MiB echo: %v", err)
			}
			if got := <-sni; got != "proxy.test" {
				t.Errorf("backend saw SNI %q, want proxy.test", got)
			}
		}),
	pc("proxy-tls-verify-client", "spec/proxy.md §10 (bind verify required ca-file)",
		"bind verify required: a client certificate from another CA, or none, is refused (the session closes, backend never contacted); the CA's own client certificate passes",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" ca-file "+f.caFile+" verify required", "", "", be.addr()))
			for _, bad := range []struct {
				name  string
				certs []tls.Certificate
			}{{"stranger's certificate", []tls.Certificate{f.clientX}}, {"no certificate", nil}} {
				c, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test", Certificates: bad.certs})
				if err == nil {
					// TLS 1.3: the refusal arrives after the client's Finished.
					err = roundTrip(c, []byte("x"), []byte("x"), 3*time.Second)
				}
				if err == nil {
					t.Errorf("%s: accepted", bad.name)
				}
			}
			c, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test", Certificates: []tls.Certificate{f.clientOK}})
			if err != nil {
				t.Fatalf("good client certificate: %v", err)
			}
			if err := roundTrip(c, []byte("ok\n"), []byte("ok\n"), 5*time.Second); err != nil {
				t.Fatalf("good client certificate: %v", err)
			}
			if n := be.accepted.Load(); n != 1 {
				t.Errorf("backend saw %d connections, want 1", n)
			}
		}),
	pc("proxy-tls-verify-server", "spec/proxy.md §10 (server ssl verify required)",
		"server ssl verify required with a CA that did not sign the backend: the client is closed, no byte of it is relayed",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := f.tlsBackend(t, nil)
			other := tlstest.MustCA(testing.TB(t.T), tlstest.ECDSAP256, "not the backend's CA")
			wrongCA := tlstest.WriteFile(testing.TB(t.T), t.TempDir(), "wrong.pem", other.PEM)
			cfg := simpleCfg("", "", "    retries 0\n", be.addr()+" ssl verify required ca-file "+wrongCA)
			p := startProxy(t, e, cfg)
			c := dial(t, p.Addr(0), "")
			_, _ = c.Write([]byte("secret\n"))
			seen, err := expectEOF(c, 10*time.Second)
			if err != nil {
				t.Fatalf("client not closed: %v", err)
			}
			if len(seen) > 0 {
				t.Errorf("client got %q", seen)
			}
		}),
	pc("proxy-tls-garbage", "spec/proxy.md §10 (errors close only that connection)",
		"plain text instead of a ClientHello on bind ssl: that connection is closed, the backend is never contacted, a TLS session opened before still relays",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA, "", "", be.addr()))
			good, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test"})
			if err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(good, []byte("one\n"), []byte("one\n"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			c := dial(t, p.Addr(0), "")
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			if seen, err := expectEOF(c, closeWithin); err != nil || len(seen) > 64 {
				t.Fatalf("garbage: %v, %d bytes back", err, len(seen))
			}
			if err := roundTrip(good, []byte("two\n"), []byte("two\n"), 5*time.Second); err != nil {
				t.Fatalf("the other session: %v", err)
			}
			if n := be.accepted.Load(); n != 1 {
				t.Errorf("backend saw %d connections, want 1", n)
			}
		}),
	pc("proxy-tls-send-proxy-v2-ssl-cn", "spec/proxy.md §11 (send-proxy-v2-ssl-cn); proxy-protocol §2.2.5 (PP2_TYPE_SSL)",
		"bind ssl verify required → server send-proxy-v2-ssl-cn: the backend's PROXY v2 header has an SSL TLV with client flags SSL|CERT_CONN|CERT_SESS, verify 0, sub-TLVs VERSION TLSv1.3 then CN of the client certificate, then the payload",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be, ch := ppBackend(t)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" ca-file "+f.caFile+" verify required", "", "", be.addr()+" send-proxy-v2-ssl-cn"))
			c, err := tlsDial(t, p.Addr(0), &tls.Config{RootCAs: f.ca.Pool, ServerName: "proxy.test", Certificates: []tls.Certificate{f.clientOK}})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if _, err := c.Write([]byte("PING\n")); err != nil {
				t.Fatal(err)
			}
			var r ppResult
			select {
			case r = <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("backend was not contacted within 10 s")
			}
			if r.Err != nil {
				t.Fatalf("backend could not decode the header: %v", r.Err)
			}
			var ssl []byte
			for _, tlv := range r.H.TLVs {
				if tlv.Type == 0x20 {
					ssl = tlv.Value
				}
			}
			want := []byte{0x07, 0, 0, 0, 0, 0x21, 0, 7}
			want = append(want, "TLSv1.3"...)
			want = append(want, 0x22, 0, byte(len("good client")))
			want = append(want, "good client"...)
			if string(ssl) != string(want) {
				t.Errorf("SSL TLV % x, want % x", ssl, want)
			}
			if string(r.Payload) != "PING\n" {
				t.Errorf("payload %q", r.Payload)
			}
		}),
	pc("proxy-tls-check-ssl", "spec/proxy.md §5 health checks, §11 (check-ssl)",
		"server ssl verify none check: a server that accepts TCP but speaks no TLS fails its checks and gets no session; every session goes to the TLS server",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			plain := newBackend(t, echo)
			good := f.tlsBackend(t, nil)
			// The plain server goes down at its first failed check; the TLS
			// server only after three, so that one handshake slower than
			// "timeout check" on a loaded machine does not take the only
			// live server out (HAProxy and the engines alike: seen once
			// with haproxy under a CI run).
			opts := " ssl verify none check inter 200ms rise 1"
			p := startProxy(t, e, simpleCfg("", "", "    timeout check 500ms\n", plain.addr()+opts+" fall 1", good.addr()+opts+" fall 3"))
			// Wait (bounded) until the failing check has had its chance:
			// then no session may reach the plain server.
			deadline := time.Now().Add(5 * time.Second)
			ok := 0
			for ok < 6 && time.Now().Before(deadline) {
				c := dial(t, p.Addr(0), "")
				if err := echoBoth(c, []byte("hello\n"), 3*time.Second); err == nil {
					ok++
				} else {
					ok = 0 // reached the plain server (no TLS): not down yet
				}
				c.Close()
			}
			if ok < 6 {
				t.Fatalf("sessions still fail after 5 s: the plain server was not marked down")
			}
			for range 4 {
				c := dial(t, p.Addr(0), "")
				if err := echoBoth(c, []byte("again\n"), 3*time.Second); err != nil {
					t.Fatalf("session through the TLS server: %v", err)
				}
				c.Close()
			}
		}),
	configErrorCase("proxy-config-ssl-no-crt", "frontend fe\n    bind 127.0.0.1:0 ssl\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1\n", 2, "no SSL certificate specified",
		"bind ssl without crt: exit 2, HAProxy's text (no SSL certificate specified ... (use 'crt'))"),
	configErrorCase("proxy-config-ssl-missing-crt", "frontend fe\n    bind 127.0.0.1:0 ssl crt /nonexistent/site.pem\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1\n", 2, "unable to stat SSL certificate from file '/nonexistent/site.pem'",
		"bind ssl crt with a missing file: exit 2, HAProxy's text"),
	configErrorCase("proxy-config-ssl-server-no-ca", "frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1 ssl\n", 5, "verify is enabled by default but no CA file specified",
		"server ssl with verification on and no ca-file: exit 2, HAProxy's text"),
}

func init() { proxyCases = append(proxyCases, proxyTLSAlertCases...) }

// tlsAlertErr runs a crypto/tls handshake with cfg and, when it succeeds
// (TLS 1.3: a client's handshake ends before the server has checked its
// certificate), one write and one read: the error the client saw.
func tlsAlertErr(t *harness.T, addr string, cfg *tls.Config) error {
	c, err := tlsDial(t, addr, cfg)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
	}
	return err
}

var proxyTLSAlertCases = []harness.Case{
	pc("proxy-tls-alerts", "spec/proxy.md §11 (alerts: a failed handshake sends its alert before the close)",
		"the client reads the TLS alert of each failed handshake, as from haproxy (OpenSSL): verify required with a stranger's certificate → unknown CA (TLS 1.3 and 1.2), with none → certificate required (1.3) / handshake failure (1.2); a TLS 1.2 client against ssl-min-ver TLSv1.3 → protocol version; a malformed ClientHello → one fatal decode_error alert record; plain text → no byte back",
		func(t *harness.T, e harness.Engine) {
			f := newTLSFiles(t)
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" ca-file "+f.caFile+" verify required", "", "", be.addr()))
			pMin := startProxy(t, e, simpleCfg("ssl crt "+f.crtA+" ssl-min-ver TLSv1.3", "", "", be.addr()))
			send := func(c *tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				// Sent whatever the server's list of CAs says.
				return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
			}
			for _, c := range []struct {
				name, addr, want string
				cfg              *tls.Config
			}{
				{"stranger's certificate", p.Addr(0), "remote error: tls: unknown certificate authority",
					&tls.Config{GetClientCertificate: send(&f.clientX)}},
				{"stranger's certificate, TLS 1.2", p.Addr(0), "remote error: tls: unknown certificate authority",
					&tls.Config{MaxVersion: tls.VersionTLS12, GetClientCertificate: send(&f.clientX)}},
				{"no certificate", p.Addr(0), "remote error: tls: certificate required", &tls.Config{}},
				{"no certificate, TLS 1.2", p.Addr(0), "remote error: tls: handshake failure", &tls.Config{MaxVersion: tls.VersionTLS12}},
				{"TLS 1.2 under ssl-min-ver TLSv1.3", pMin.Addr(0), "remote error: tls: protocol version not supported",
					&tls.Config{MaxVersion: tls.VersionTLS12}},
			} {
				c.cfg.RootCAs, c.cfg.ServerName = f.ca.Pool, "proxy.test"
				err := tlsAlertErr(t, c.addr, c.cfg)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: client saw %v, want the alert %q", c.name, err, c.want)
				}
			}
			// A handshake record whose ClientHello announces 4 bytes and
			// holds 2: alert record (21), any version, length 2, fatal,
			// decode_error (50).
			c := dial(t, p.Addr(0), "")
			_, _ = c.Write([]byte{0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0})
			seen, err := expectEOF(c, closeWithin)
			if err != nil || len(seen) != 7 || seen[0] != 21 || seen[3] != 0 || seen[4] != 2 || seen[5] != 2 || seen[6] != 50 {
				t.Errorf("malformed ClientHello: % x back (%v), want one fatal decode_error alert record", seen, err)
			}
			c = dial(t, p.Addr(0), "")
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			if seen, err := expectEOF(c, closeWithin); err != nil || len(seen) > 0 {
				t.Errorf("plain text: % x back (%v), want the close alone", seen, err)
			}
			if n := be.accepted.Load(); n != 0 {
				t.Errorf("backend saw %d connections, want 0", n)
			}
		}),
}
