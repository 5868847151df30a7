package proxytest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
)

// TLS cases (issue 16, "TLS"): bind ssl → server ssl with crypto/tls
// clients and an in-test crypto/tls server; each failure closes only its
// own session.

// tlsRig holds the certificates of one TLS case, written as HAProxy's PEM
// files.
type tlsRig struct {
	ca        *tlstest.CA
	caFile    string
	crtA      string // proxy.test (the bind's default certificate)
	crtB      string // other.test (chosen by SNI)
	backend   tls.Certificate
	clientOK  tls.Certificate // signed by ca
	clientBad tls.Certificate // signed by another CA
}

func newTLSRig(t *testing.T, alg tlstest.Alg) *tlsRig {
	t.Helper()
	dir := t.TempDir()
	r := &tlsRig{ca: tlstest.MustCA(t, alg, "proxytest CA")}
	r.caFile = tlstest.WriteFile(t, dir, "ca.pem", r.ca.PEM)
	r.crtA = tlstest.WriteFile(t, dir, "a.pem", r.ca.MustIssue(t, alg, "proxy.test", "127.0.0.1").PEM)
	r.crtB = tlstest.WriteFile(t, dir, "b.pem", r.ca.MustIssue(t, alg, "other.test").PEM)
	r.backend = r.ca.MustIssue(t, alg, "backend.test").Cert
	r.clientOK = r.ca.MustIssue(t, alg, "good client").Cert
	other := tlstest.MustCA(t, alg, "stranger CA")
	r.clientBad = other.MustIssue(t, alg, "bad client").Cert
	return r
}

// config is a listen section terminating TLS (two certificates, client
// certificates verified when verify is "required") and originating TLS to
// backend with SNI backend.test, verified against the CA.
func (r *tlsRig) config(backend, verify, timeoutClient string) string {
	v := ""
	if verify != "" {
		v = " ca-file " + r.caFile + " verify " + verify
	}
	return fmt.Sprintf(`defaults
    mode tcp
    timeout connect 10s
    timeout client %s
    timeout server 30s
listen l
    bind 127.0.0.1:0 ssl crt %s crt %s alpn h2,http/1.1%s
    server s1 %s ssl verify required ca-file %s sni str(backend.test)
`, timeoutClient, r.crtA, r.crtB, v, backend, r.caFile)
}

func (r *tlsRig) clientConfig(name string) *tls.Config {
	return &tls.Config{RootCAs: r.ca.Pool, ServerName: name, NextProtos: []string{"http/1.1"}}
}

// startTLSServer runs handle on each TLS connection accepted on Host:0
// with the backend certificate; sni receives the server name each client
// asked for.
func (r *tlsRig) startTLSServer(t *testing.T, sni chan<- string, handle func(c *tls.Conn)) *Server {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{r.backend}}
	return StartServer(t, func(c *net.TCPConn) {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(stallTimeout))
		if err := tc.Handshake(); err != nil {
			t.Logf("backend handshake: %v", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if sni != nil {
			select {
			case sni <- tc.ConnectionState().ServerName:
			default:
			}
		}
		handle(tc)
	})
}

func echoTLS(c *tls.Conn) { _, _ = io.Copy(c, c); _ = c.CloseWrite() }

// dialTLS connects through the proxy with cfg (over conn when not nil).
func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(stallTimeout))
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	t.Cleanup(func() { _ = c.Close() })
	return tc, nil
}

// ping writes msg and reads the echo.
func ping(c *tls.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(stallTimeout))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

// testTLSRelay: RelayBytes each way at once, client → bind ssl → server
// ssl → backend, SHA-256 compared; the backend sees the configured SNI and
// the client the SNI-chosen certificate and the ALPN.
func testTLSRelay(t *testing.T, newEngine Factory, alg tlstest.Alg) {
	r := newTLSRig(t, alg)
	n := RelayBytes()
	type result struct {
		sum [32]byte
		got int64
		err error
	}
	srvRes := make(chan result, 1)
	sni := make(chan string, 1)
	srv := r.startTLSServer(t, sni, func(c *tls.Conn) {
		sum, got, err := sendAndSum(c, 2, n)
		srvRes <- result{sum, got, err}
	})
	_, addrs := StartProxy(t, newEngine, r.config(srv.Addr(), "", "30s"))
	c, err := dialTLS(t, addrs[0], r.clientConfig("proxy.test"))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("ALPN %q, want http/1.1", p)
	}
	sum, got, err := sendAndSum(c, 1, n)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	sr := <-srvRes
	if sr.err != nil {
		t.Fatalf("backend: %v", sr.err)
	}
	if got != n || sum != StreamSum(2, n) {
		t.Errorf("server→client: got %d bytes, sha256 equal=%v", got, sum == StreamSum(2, n))
	}
	if sr.got != n || sr.sum != StreamSum(1, n) {
		t.Errorf("client→server: got %d bytes, sha256 equal=%v", sr.got, sr.sum == StreamSum(1, n))
	}
	if name := <-sni; name != "backend.test" {
		t.Errorf("backend saw SNI %q, want backend.test", name)
	}
}

// testTLSSNIChoice: the certificate follows the client's SNI among the crt
// files; an unknown name gets the first.
func testTLSSNIChoice(t *testing.T, newEngine Factory) {
	r := newTLSRig(t, tlstest.ECDSAP256)
	srv := r.startTLSServer(t, nil, echoTLS)
	_, addrs := StartProxy(t, newEngine, r.config(srv.Addr(), "", "30s"))
	for _, tc := range []struct{ sni, want string }{
		{"proxy.test", "proxy.test"}, {"other.test", "other.test"}, {"unknown.test", "proxy.test"},
	} {
		cfg := r.clientConfig(tc.sni)
		cfg.InsecureSkipVerify = true // unknown.test does not match: look, do not verify
		c, err := dialTLS(t, addrs[0], cfg)
		if err != nil {
			t.Fatalf("SNI %s: %v", tc.sni, err)
		}
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tc.want {
			t.Errorf("SNI %s: certificate %q, want %q", tc.sni, cn, tc.want)
		}
		if err := ping(c, "sni "+tc.sni); err != nil {
			t.Errorf("SNI %s: %v", tc.sni, err)
		}
	}
}

// oneByteConn writes one byte per write(2).
type oneByteConn struct{ net.Conn }

func (c oneByteConn) Write(b []byte) (int, error) {
	for i := range b {
		if _, err := c.Conn.Write(b[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(b), nil
}

// testTLSHelloOneByte: the ClientHello (and the rest of the client's
// handshake) arrives in 1-byte writes; the session works.
func testTLSHelloOneByte(t *testing.T, newEngine Factory) {
	r := newTLSRig(t, tlstest.ECDSAP256)
	srv := r.startTLSServer(t, nil, echoTLS)
	_, addrs := StartProxy(t, newEngine, r.config(srv.Addr(), "", "30s"))
	raw, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(oneByteConn{raw}, r.clientConfig("proxy.test"))
	_ = c.SetDeadline(time.Now().Add(stallTimeout))
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake in 1-byte writes: %v", err)
	}
	if err := ping(c, "one byte at a time"); err != nil {
		t.Fatal(err)
	}
}

// failureCase opens a healthy session, runs bad (which must see its
// connection closed by the proxy), then checks the healthy one still
// echoes. keepAlive pings the healthy session while bad runs, so a short
// timeout client does not end it.
func failureCase(t *testing.T, newEngine Factory, verify, timeoutClient string, bad func(r *tlsRig, addr string) error) {
	r := newTLSRig(t, tlstest.ECDSAP256)
	srv := r.startTLSServer(t, nil, echoTLS)
	_, addrs := StartProxy(t, newEngine, r.config(srv.Addr(), verify, timeoutClient))
	cfg := r.clientConfig("proxy.test")
	cfg.Certificates = []tls.Certificate{r.clientOK}
	good, err := dialTLS(t, addrs[0], cfg)
	if err != nil {
		t.Fatalf("healthy session: %v", err)
	}
	if err := ping(good, "before"); err != nil {
		t.Fatalf("healthy session: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- bad(r, addrs[0]) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if err := ping(good, "after"); err != nil {
				t.Fatalf("healthy session after the failure: %v", err)
			}
			return
		case <-tick.C:
			if err := ping(good, fmt.Sprintf("keepalive %d", i)); err != nil {
				t.Fatalf("healthy session during the failure: %v", err)
			}
		}
	}
}

// expectClosed reads from c until the proxy closes it (EOF or reset);
// more than max bytes, or no close within stallTimeout, is an error.
func expectClosed(c net.Conn, max int) error {
	_ = c.SetReadDeadline(time.Now().Add(stallTimeout))
	b, err := io.ReadAll(io.LimitReader(c, int64(max)+1))
	if len(b) > max {
		return fmt.Errorf("read %d bytes, expected the connection closed", len(b))
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("connection not closed within %v", stallTimeout)
	}
	return nil
}

func testTLSGarbage(t *testing.T, newEngine Factory) {
	failureCase(t, newEngine, "", "30s", func(r *tlsRig, addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: proxy.test\r\n\r\n")); err != nil {
			return err
		}
		// Not TLS at all: no alert (neither crypto/tls nor OpenSSL
		// answers what does not look like a TLS record), just the close.
		return expectClosed(c, 0)
	})
}

func testTLSHandshakeTimeout(t *testing.T, newEngine Factory) {
	failureCase(t, newEngine, "", "1s", func(r *tlsRig, addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		// The first bytes of a ClientHello, then nothing.
		if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x80, 0x01}); err != nil {
			return err
		}
		start := time.Now()
		if err := expectClosed(c, 64); err != nil {
			return err
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			return fmt.Errorf("closed after %v, before timeout client (1s)", d)
		}
		return nil
	})
}

// testTLSBadClientCert: with "verify required", a client certificate from
// another CA, and none at all, end the handshake with the alert crypto/tls
// (like OpenSSL in HAProxy) sends: the client reads "remote error: tls:
// unknown certificate authority" / "certificate required", not just an EOF
// or a reset (the alert is flushed before the close).
func testTLSBadClientCert(t *testing.T, newEngine Factory) {
	failureCase(t, newEngine, "required", "30s", func(r *tlsRig, addr string) error {
		for _, c := range []struct {
			name, want string
			cert       *tls.Certificate
			max        uint16
		}{
			{"stranger's certificate", "remote error: tls: unknown certificate authority", &r.clientBad, 0},
			{"stranger's certificate, TLS 1.2", "remote error: tls: unknown certificate authority", &r.clientBad, tls.VersionTLS12},
			{"no certificate", "remote error: tls: certificate required", nil, 0},
			{"no certificate, TLS 1.2", "remote error: tls: handshake failure", nil, tls.VersionTLS12},
		} {
			cfg := r.clientConfig("proxy.test")
			cfg.MaxVersion = c.max
			// Sent whatever the server's list of CAs says.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if c.cert == nil {
					return &tls.Certificate{}, nil
				}
				return c.cert, nil
			}
			err := handshakeAndRead(addr, cfg)
			if err == nil {
				return fmt.Errorf("%s: accepted", c.name)
			}
			if !strings.Contains(err.Error(), c.want) {
				return fmt.Errorf("%s: client saw %q, want the alert %q", c.name, err, c.want)
			}
		}
		return nil
	})
}

// handshakeAndRead runs a handshake with cfg and, when it succeeds (TLS
// 1.3: the client's handshake ends before the server has checked its
// certificate), one write and one read: the error the client saw.
func handshakeAndRead(addr string, cfg *tls.Config) error {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(stallTimeout))
	err = c.Handshake()
	if err == nil {
		_, _ = c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
	}
	return err
}

// testTLSMinVersion: a client whose highest version is below the bind's
// ssl-min-ver gets the protocol_version alert.
func testTLSMinVersion(t *testing.T, newEngine Factory) {
	r := newTLSRig(t, tlstest.ECDSAP256)
	srv := r.startTLSServer(t, nil, echoTLS)
	cfg := strings.Replace(r.config(srv.Addr(), "", "30s"), "alpn h2,http/1.1", "alpn h2,http/1.1 ssl-min-ver TLSv1.3", 1)
	_, addrs := StartProxy(t, newEngine, cfg)
	cc := r.clientConfig("proxy.test")
	cc.MaxVersion = tls.VersionTLS12
	err := handshakeAndRead(addrs[0], cc)
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: protocol version not supported") {
		t.Fatalf("TLS 1.2 client against ssl-min-ver TLSv1.3: %v, want the protocol_version alert", err)
	}
	cc.MaxVersion = 0
	if _, err := dialTLS(t, addrs[0], cc); err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
}

// testTLSBadHello: a TLS record whose ClientHello is malformed gets a
// fatal decode_error alert record (as from OpenSSL) before the close.
func testTLSBadHello(t *testing.T, newEngine Factory) {
	failureCase(t, newEngine, "", "30s", func(r *tlsRig, addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		// Handshake record, ClientHello announcing 4 bytes, holding 2.
		if _, err := c.Write([]byte{0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0}); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(stallTimeout))
		b, _ := io.ReadAll(io.LimitReader(c, 64))
		// Alert record: type 21, a version, length 2, fatal (2), decode_error (50).
		if len(b) != 7 || b[0] != 21 || b[3] != 0 || b[4] != 2 || b[5] != 2 || b[6] != 50 {
			return fmt.Errorf("got % x before the close, want one fatal decode_error alert record", b)
		}
		return nil
	})
}

func testTLSOversizedRecord(t *testing.T, newEngine Factory) {
	failureCase(t, newEngine, "", "30s", func(r *tlsRig, addr string) error {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer raw.Close()
		c := tls.Client(raw, r.clientConfig("proxy.test"))
		_ = c.SetDeadline(time.Now().Add(stallTimeout))
		if err := c.Handshake(); err != nil {
			return err
		}
		// An application-data record announcing 20000 bytes: more than
		// TLS allows (16384 + 256 in 1.3, + 2048 in 1.2).
		rec := append([]byte{23, 3, 3, 20000 >> 8, 20000 & 0xff}, bytes.Repeat([]byte{0xaa}, 20000)...)
		if _, err := raw.Write(rec); err != nil {
			return nil // already closed: fine
		}
		// The record_overflow alert (encrypted, TLS 1.3) comes before
		// the close.
		_ = c.SetReadDeadline(time.Now().Add(stallTimeout))
		if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "remote error: tls: record overflow") {
			return fmt.Errorf("after an oversized record the client read %v, want the record_overflow alert", err)
		}
		return expectClosed(raw, 0)
	})
}

// tlsCases are the TLS entries of Run.
func tlsCases(newEngine Factory) []struct {
	name string
	run  func(t *testing.T)
} {
	return []struct {
		name string
		run  func(t *testing.T)
	}{
		{"TLS/Relay/ECDSA-P256", func(t *testing.T) { testTLSRelay(t, newEngine, tlstest.ECDSAP256) }},
		{"TLS/Relay/RSA-2048", func(t *testing.T) { testTLSRelay(t, newEngine, tlstest.RSA2048) }},
		{"TLS/SNIChoice", func(t *testing.T) { testTLSSNIChoice(t, newEngine) }},
		{"TLS/HelloOneByte", func(t *testing.T) { testTLSHelloOneByte(t, newEngine) }},
		{"TLS/Garbage", func(t *testing.T) { testTLSGarbage(t, newEngine) }},
		{"TLS/HandshakeTimeout", func(t *testing.T) { testTLSHandshakeTimeout(t, newEngine) }},
		{"TLS/BadClientCert", func(t *testing.T) { testTLSBadClientCert(t, newEngine) }},
		{"TLS/MinVersion", func(t *testing.T) { testTLSMinVersion(t, newEngine) }},
		{"TLS/BadHello", func(t *testing.T) { testTLSBadHello(t, newEngine) }},
		{"TLS/OversizedRecord", func(t *testing.T) { testTLSOversizedRecord(t, newEngine) }},
	}
}
