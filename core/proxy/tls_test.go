package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// tlsHarness is a harness whose proxy's handshakes use a Limiter the test
// can wait on (handshakes run on goroutines outside the fake-clock loop).
type tlsHarness struct {
	*harness
	lim  *tlsconn.Limiter
	ca   *tlstest.CA
	dir  string
	crt  string
	caF  string
	back tls.Certificate
}

func newTLSHarness(t *testing.T, cfg func(th *tlsHarness) string) *tlsHarness {
	t.Helper()
	th := &tlsHarness{lim: tlsconn.NewLimiter(16), dir: t.TempDir()}
	th.ca = tlstest.MustCA(t, tlstest.ECDSAP256, "proxy test CA")
	th.crt = tlstest.WriteFile(t, th.dir, "site.pem", th.ca.MustIssue(t, tlstest.ECDSAP256, "proxy.test").PEM)
	th.caF = tlstest.WriteFile(t, th.dir, "ca.pem", th.ca.PEM)
	th.back = th.ca.MustIssue(t, tlstest.ECDSAP256, "backend.test").Cert
	th.harness = newHarness(t, cfg(th), 0)
	th.p.tlsLimiter = th.lim
	t.Cleanup(th.lim.WaitIdle)
	return th
}

// until settles the engine and the handshake goroutines until cond.
func (th *tlsHarness) until(cond func() bool) {
	th.t.Helper()
	for range 10000 {
		th.settle()
		th.lim.WaitIdle()
		th.settle()
		if cond() {
			return
		}
	}
	th.t.Fatal("condition never reached")
}

func (th *tlsHarness) clientCfg() *tls.Config {
	return &tls.Config{RootCAs: th.ca.Pool, ServerName: "proxy.test"}
}

// TestTLSTerminate: bind ssl → plain server; the client's plaintext
// reaches the server and back, the session knows the SNI.
func TestTLSTerminate(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return cfgWith("listen l", "    bind 127.0.0.1:8443 ssl crt "+th.crt, "    server s1 10.0.0.1:80")
	})
	th.server("10.0.0.1:80", func() *peer { return &peer{echo: true} })
	th.start()
	cli := &peer{onOpen: func(c engine.Conn) { _ = c.Write([]byte("hello")) }}
	if _, err := th.e.Dial("127.0.0.1:8443", tlsconn.Client(cli, th.clientCfg(), tlsconn.Options{Limiter: th.lim}), engine.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	th.until(func() bool { return cli.data.Len() == 5 || cli.closed })
	if cli.data.String() != "hello" {
		t.Fatalf("client got %q (closed %v: %v)", cli.data.String(), cli.closed, cli.closeErr)
	}
	if got := th.only("10.0.0.1:80").data.String(); got != "hello" {
		t.Fatalf("server got %q", got)
	}
	s := th.sessions[0]
	if st, ok := s.TLS(); !ok || st.ServerName != "proxy.test" || s.SSLFrontSNI() != "proxy.test" {
		t.Fatalf("session TLS state %v %q", ok, st.ServerName)
	}
	// The server leg is dialed Near the socket, not the TLS layer (an
	// engine ignores a Near it does not know and may use another loop).
	if _, isTLS := s.nearConn().(*tlsconn.Conn); isTLS || s.nearConn() == s.cli {
		t.Fatalf("nearConn %T is not the raw client connection", s.nearConn())
	}
}

// tlsBackend is a fake server that reads a PROXY v2 header in clear, then
// runs TLS (as HAProxy's send-proxy + ssl server order requires).
type tlsBackend struct {
	th    *tlsHarness
	dec   proxyproto.Decoder
	hdr   *proxyproto.Header
	tls   engine.Handler
	plain *peer
	err   error
}

func (b *tlsBackend) OnOpen(engine.Conn) {}
func (b *tlsBackend) OnData(c engine.Conn, in []byte) int {
	if b.tls != nil {
		return b.tls.OnData(c, in)
	}
	h, n, err := b.dec.Decode(in)
	if errors.Is(err, proxyproto.ErrNeedMore) {
		return 0
	}
	if err != nil {
		b.err = err
		_ = c.Close()
		return len(in)
	}
	b.hdr = &h
	b.tls = tlsconn.StartServer(c, b.plain, &tls.Config{Certificates: []tls.Certificate{b.th.back}}, tlsconn.Options{Limiter: b.th.lim})
	return n
}
func (b *tlsBackend) OnReadEOF(c engine.Conn) {
	if b.tls != nil {
		b.tls.OnReadEOF(c)
	}
}
func (b *tlsBackend) OnDrained(c engine.Conn) {
	if b.tls != nil {
		b.tls.OnDrained(c)
	}
}
func (b *tlsBackend) OnClose(c engine.Conn, err error) {
	if b.tls != nil {
		b.tls.OnClose(c, err)
	}
}

// TestTLSOriginateProxyV2SSL: accept-proxy + bind ssl (verify required) →
// send-proxy-v2-ssl-cn + server ssl. The PROXY header goes in clear before
// each ClientHello, the backend's header carries the SSL TLV with the
// version and the client certificate's CN, and bytes flow both ways.
func TestTLSOriginateProxyV2SSL(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return cfgWith("listen l",
			"    bind 127.0.0.1:8443 accept-proxy ssl crt "+th.crt+" ca-file "+th.caF+" verify required",
			"    server s1 10.0.0.1:443 send-proxy-v2-ssl-cn ssl verify required ca-file "+th.caF+" sni str(backend.test)")
	})
	var be *tlsBackend
	if _, err := th.e.Listen("10.0.0.1:443", func(engine.Conn) engine.Handler {
		be = &tlsBackend{th: th, plain: &peer{echo: true}}
		return be
	}); err != nil {
		t.Fatal(err)
	}
	th.start()
	ccfg := th.clientCfg()
	ccfg.Certificates = []tls.Certificate{th.ca.MustIssue(t, tlstest.ECDSAP256, "alice").Cert}
	cli := &peer{onOpen: func(c engine.Conn) { _ = c.Write([]byte("ping")) }}
	var cliTLS engine.Handler
	raw := &rawThen{
		open: func(c engine.Conn) engine.Handler {
			_ = c.Write([]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1000 443\r\n"))
			cliTLS = tlsconn.StartClient(c, cli, ccfg, tlsconn.Options{Limiter: th.lim})
			return cliTLS
		},
	}
	if _, err := th.e.Dial("127.0.0.1:8443", raw, engine.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	th.until(func() bool { return cli.data.Len() == 4 || cli.closed })
	if cli.data.String() != "ping" {
		t.Fatalf("client got %q (closed %v: %v; backend err %v)", cli.data.String(), cli.closed, cli.closeErr, be.err)
	}
	if be.hdr == nil {
		t.Fatal("backend got no PROXY header")
	}
	if src, _, ok := be.hdr.Addresses(); !ok || src.String() != "192.0.2.1:1000" {
		t.Errorf("PROXY source %v, want the received header's 192.0.2.1:1000", src)
	}
	ssl, ok, err := be.hdr.SSL()
	if !ok || err != nil {
		t.Fatalf("SSL TLV: ok %v, %v", ok, err)
	}
	if !ssl.Verified() || ssl.Client&proxyproto.SSLClientSSL == 0 {
		t.Errorf("SSL TLV client 0x%02x verify %d", ssl.Client, ssl.Verify)
	}
	if v, _ := ssl.Sub(proxyproto.SubtypeSSLVersion); v != "TLSv1.3" {
		t.Errorf("version sub-TLV %q", v)
	}
	if cn, _ := ssl.Sub(proxyproto.SubtypeSSLCN); cn != "alice" {
		t.Errorf("CN sub-TLV %q, want alice", cn)
	}
}

// rawThen is a client handler that, once open, hands its events to the
// handler open returns.
type rawThen struct {
	open func(c engine.Conn) engine.Handler
	h    engine.Handler
}

func (r *rawThen) OnOpen(c engine.Conn)                { r.h = r.open(c) }
func (r *rawThen) OnData(c engine.Conn, in []byte) int { return r.h.OnData(c, in) }
func (r *rawThen) OnReadEOF(c engine.Conn)             { r.h.OnReadEOF(c) }
func (r *rawThen) OnDrained(c engine.Conn)             { r.h.OnDrained(c) }
func (r *rawThen) OnClose(c engine.Conn, err error) {
	if r.h != nil {
		r.h.OnClose(c, err)
	}
}

// TestTLSHandshakeTimeout: a client that never finishes its ClientHello
// is closed after timeout client, logged, and no backend is contacted.
func TestTLSHandshakeTimeout(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return "global\n    log stdout local0\n" + cfgWith("listen l", "    bind 127.0.0.1:8443 ssl crt "+th.crt, "    timeout client 2s", "    server s1 10.0.0.1:80")
	})
	th.server("10.0.0.1:80", func() *peer { return &peer{echo: true} })
	th.start()
	cli := th.dial("127.0.0.1:8443", &peer{onOpen: func(c engine.Conn) { _ = c.Write([]byte{0x16, 3, 1, 0, 200}) }})
	th.until(func() bool { return true })
	th.advance(1900 * time.Millisecond)
	th.until(func() bool { return true })
	if cli.eof || cli.closed {
		t.Fatal("closed before timeout client")
	}
	th.advance(200 * time.Millisecond)
	th.until(func() bool { return cli.eof || cli.closed })
	if len(th.servers["10.0.0.1:80"]) != 0 {
		t.Fatal("a backend was contacted")
	}
	if !strings.Contains(th.log.String(), "SSL handshake failure") {
		t.Fatalf("log %q lacks the handshake failure", th.log.String())
	}
	if st, _ := th.p.FrontendStats("l"); st.Ereq != 1 {
		t.Fatalf("frontend request errors %d, want 1", st.Ereq)
	}
}

var _ = fmt.Sprint

// TestTLSCheckSSL: with check-ssl a server that accepts TCP but speaks no
// TLS fails its checks (the handshake times out) and goes down; once a TLS
// server answers there, it comes back up.
func TestTLSCheckSSL(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return cfgWith("listen l", "    bind 127.0.0.1:8000",
			"    server a 127.0.0.1:9001 check check-ssl verify none inter 1s fall 1 rise 1")
	})
	th.server("127.0.0.1:9001", func() *peer { return &peer{} })
	th.start()
	up := func() bool { _, up, _ := th.p.ServerStats("l", "a"); return up }
	for i := 0; i < 5 && up(); i++ {
		th.advance(time.Second)
		th.until(func() bool { return true })
	}
	if up() {
		t.Fatal("still up although the server never answers the TLS handshake")
	}
	th.killServer("127.0.0.1:9001")
	if _, err := th.e.Listen("127.0.0.1:9001", func(engine.Conn) engine.Handler {
		return tlsconn.Server(&peer{}, &tls.Config{Certificates: []tls.Certificate{th.back}}, tlsconn.Options{Limiter: th.lim})
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5 && !up(); i++ {
		th.advance(time.Second)
		th.until(func() bool { return th.lim.Running() == 0 }) // the check's handshake ended
	}
	if !up() {
		t.Fatal("not up once a TLS server answers")
	}
}

// TestTLSTcpCheckConnectSSL: "tcp-check connect ssl" then send/expect run
// over TLS: a TLS server answering PONG keeps the server up, one that
// answers something else takes it down.
func TestTLSTcpCheckConnectSSL(t *testing.T) {
	th := newTLSHarness(t, func(th *tlsHarness) string {
		return cfgWith("listen l", "    bind 127.0.0.1:8000", "    option tcp-check",
			"    tcp-check connect ssl", "    tcp-check send PING\\r\\n", "    tcp-check expect string PONG",
			"    server a 127.0.0.1:9001 check inter 1s fall 1 rise 1")
	})
	answer := "PONG\r\n"
	if _, err := th.e.Listen("127.0.0.1:9001", func(engine.Conn) engine.Handler {
		return tlsconn.Server(&replier{answer: &answer}, &tls.Config{Certificates: []tls.Certificate{th.back}}, tlsconn.Options{Limiter: th.lim})
	}); err != nil {
		t.Fatal(err)
	}
	th.start()
	up := func() bool { _, up, _ := th.p.ServerStats("l", "a"); return up }
	for range 3 {
		th.advance(time.Second)
		th.until(func() bool { return th.lim.Running() == 0 })
	}
	if !up() {
		t.Fatal("down although the TLS server answers PONG")
	}
	answer = "NOPE\r\n"
	for i := 0; i < 5 && up(); i++ {
		th.advance(time.Second)
		th.until(func() bool { return th.lim.Running() == 0 })
	}
	if up() {
		t.Fatal("still up although the TLS server answers NOPE")
	}
}

// replier answers each read with *answer.
type replier struct {
	engine.BaseHandler
	answer *string
}

func (r *replier) OnData(c engine.Conn, in []byte) int {
	_ = c.Write([]byte(*r.answer))
	return len(in)
}

func TestBindTLSConfigTickets(t *testing.T) {
	for _, no := range []bool{false, true} {
		if got := bindTLSConfig(&config.BindSSL{NoTickets: no}).SessionTicketsDisabled; got != no {
			t.Errorf("no-tls-tickets=%v: SessionTicketsDisabled=%v", no, got)
		}
	}
}
