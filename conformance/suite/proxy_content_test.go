package suite

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// Content rules (spec/proxy.md §2.1): tcp-request inspect-delay, tcp-request
// content accept|reject, use_backend on req.* fetches. TLS passthrough is
// checked with real TLS clients and servers (crypto/tls) through the proxy.

func init() { proxyCases = append(proxyCases, contentCases...) }

const specContent = "spec/proxy.md §2.1; HAProxy 2.6 tcp-request content, req.ssl_sni"

// testPKI is one self-signed certificate for every name the cases use, and
// a pool that trusts it: clients verify the server they reach.
var testPKI = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "netmodels conformance"},
		DNSNames:              []string{"a.example", "b.example", "c.example"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// tlsTagged terminates TLS, answers with its name and the SNI it saw, then
// echoes: the case learns which backend the proxy chose and that the
// ClientHello reached it unchanged (the handshake verifies that).
func tlsTagged(name string) func(net.Conn) {
	return func(c net.Conn) {
		cert, _ := testPKI()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := s.Handshake(); err != nil {
			return
		}
		_ = s.SetDeadline(time.Time{})
		fmt.Fprintf(s, "%s %s\n", name, s.ConnectionState().ServerName)
		buf := make([]byte, 4096)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				_, _ = s.Write(buf[:n])
			}
			if err != nil {
				_ = s.Close()
				return
			}
		}
	}
}

// writePKIPem writes the test certificate and its key as one PEM file,
// the form "bind ... ssl crt FILE" loads.
func writePKIPem(t *harness.T) string {
	t.Helper()
	cert, _ := testPKI()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	p := filepath.Join(t.TempDir(), "site.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsWhich connects through the proxy with a TLS client sending sni ("":
// none, the client then verifies the IP address) and returns the line the
// backend answers.
func tlsWhich(t *harness.T, addr, sni string) string {
	t.Helper()
	_, pool := testPKI()
	raw := dial(t, addr, "")
	cfg := &tls.Config{RootCAs: pool, ServerName: sni}
	if sni == "" {
		cfg.ServerName = "127.0.0.1" // an IP: crypto/tls sends no SNI
	}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS through the proxy (sni %q): %v", sni, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the backend's tag (sni %q): %v", sni, err)
	}
	return strings.TrimSpace(line)
}

const sniRoutingFE = `
frontend fe
    bind 127.0.0.1:0
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend bk_a if { req.ssl_sni -i a.example }
    default_backend bk_def
`

var contentCases = []harness.Case{
	pc("proxy-content-sni-routing", specContent,
		"TLS passthrough routed by SNI: inspect-delay 5s, accept if { req.ssl_hello_type 1 }, use_backend bk_a if { req.ssl_sni -i a.example }; real TLS clients reach bk_a for a.example (any case) and the default backend otherwise, handshake verified end to end",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tlsTagged("a")), newBackend(t, tlsTagged("def"))
			p := startProxy(t, e, cfgHead+sniRoutingFE+"\nbackend bk_a\n    server s1 "+a.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			for _, tc := range []struct{ sni, want string }{
				{"a.example", "a a.example"},
				{"A.Example", "a A.Example"},
				{"b.example", "def b.example"},
				{"", "def"},
			} {
				if got := tlsWhich(t, p.Addr(0), tc.sni); got != tc.want {
					t.Errorf("sni %q reached %q, want %q", tc.sni, got, tc.want)
				}
			}
		}),
	pc("proxy-content-sni-openssl", specContent+" (another TLS stack's ClientHello)",
		"openssl s_client -servername a.example through the SNI-routing frontend reaches bk_a with a verified handshake; -servername b.example the default backend",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tlsTagged("a")), newBackend(t, tlsTagged("def"))
			p := startProxy(t, e, cfgHead+sniRoutingFE+"\nbackend bk_a\n    server s1 "+a.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			for _, tc := range []struct{ sni, want string }{{"a.example", "a a.example"}, {"b.example", "def b.example"}} {
				if got := opensslWhich(t, p.Addr(0), tc.sni); got != tc.want {
					t.Errorf("openssl -servername %s reached %q, want %q", tc.sni, got, tc.want)
				}
			}
		}),
	pc("proxy-content-alpn-routing", specContent+" (req.ssl_alpn: one value per protocol offered)",
		"use_backend bk_h2 if { req.ssl_alpn h2 }: a TLS client offering http/1.1,h2 reaches bk_h2, one offering http/1.1 only the default backend",
		func(t *harness.T, e harness.Engine) {
			h2, def := newBackend(t, tlsTagged("h2")), newBackend(t, tlsTagged("def"))
			fe := strings.Replace(sniRoutingFE, "use_backend bk_a if { req.ssl_sni -i a.example }", "use_backend bk_h2 if { req.ssl_alpn h2 }", 1)
			p := startProxy(t, e, cfgHead+fe+"\nbackend bk_h2\n    server s1 "+h2.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			for _, tc := range []struct {
				alpn []string
				want string
			}{{[]string{"http/1.1", "h2"}, "h2 a.example"}, {[]string{"http/1.1"}, "def a.example"}} {
				_, pool := testPKI()
				c := tls.Client(dial(t, p.Addr(0), ""), &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: tc.alpn})
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || strings.TrimSpace(line) != tc.want {
					t.Errorf("ALPN %q reached %q (%v), want %q", tc.alpn, strings.TrimSpace(line), err, tc.want)
				}
			}
		}),
	pc("proxy-content-rules-reevaluated", specContent+" (HAProxy evaluates the rules from the first on every pass)",
		"reject if !{ req.len lt 4 } then accept if { req.len gt 20 }: 'abc' then 30 more bytes is rejected when inspect-delay (1s) expires (the first rule is evaluated again on more data), the backend never contacted",
		func(t *harness.T, e harness.Engine) {
			be := newBackend(t, echo)
			fe := "    tcp-request inspect-delay 1s\n    tcp-request content reject if !{ req.len lt 4 }\n    tcp-request content accept if { req.len gt 20 }\n"
			p := startProxy(t, e, simpleCfg("", fe, "", be.addr()))
			c := dial(t, p.Addr(0), "")
			_, _ = c.Write([]byte("abc"))
			time.Sleep(50 * time.Millisecond) // two segments, not a sync point
			_, _ = c.Write([]byte(strings.Repeat("x", 30)))
			seen, err := expectEOF(c, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %v, want closed when inspect-delay expires", err)
			}
			if len(seen) > 0 {
				t.Errorf("proxy sent %q before closing", seen)
			}
			if n := be.accepted.Load(); n != 0 {
				t.Errorf("backend saw %d connections, want 0", n)
			}
		}),
	pc("proxy-content-buffer-full", specContent+" (a full buffer ends the wait: tune.bufsize less the 1024-byte rewrite reserve)",
		"with inspect-delay 10s and a rule waiting for 100000 bytes, 20000 bytes sent at once are routed at once, with req.len 15360 at the decision, and all arrive",
		func(t *harness.T, e harness.Engine) {
			full, other := newBackend(t, tagged("full")), newBackend(t, tagged("other"))
			cfg := cfgHead + "\nfrontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 10s\n    tcp-request content accept if { req.len ge 100000 }\n" +
				"    use_backend bk_full if { req.len 15360 }\n    default_backend bk_other\n\nbackend bk_full\n    server s1 " + full.addr() +
				"\n\nbackend bk_other\n    server s1 " + other.addr() + "\n"
			p := startProxy(t, e, cfg)
			c := dial(t, p.Addr(0), "")
			msg := []byte(strings.Repeat("y", 19999) + "\n")
			go func() { _, _ = c.Write(msg) }()
			line, err := readLine(c, 5*time.Second)
			if err != nil || line != "full" {
				t.Fatalf("reached %q (%v), want bk_full within 5 s (inspect-delay is 10 s)", line, err)
			}
			if err := roundTrip(c, nil, msg, 5*time.Second); err != nil {
				t.Errorf("echo of the 20000 bytes: %v", err)
			}
		}),
	pc("proxy-content-sni-map", specContent+" (use_backend %[req.ssl_sni,lower,map_dom(FILE,DEFAULT)])",
		"TLS passthrough for many names through a map: a.example (any case, subdomains) reaches bk_a, other names the map's default bk_def, a name mapped to no backend the default_backend bk_fallback",
		func(t *harness.T, e harness.Engine) {
			a, def, fb := newBackend(t, tlsTagged("a")), newBackend(t, tlsTagged("def")), newBackend(t, tlsTagged("fallback"))
			m := filepath.Join(t.TempDir(), "sni.map")
			if err := os.WriteFile(m, []byte("# name backend\na.example bk_a\nb.example bk_missing\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := cfgHead + "\nfrontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    tcp-request content accept if { req.ssl_hello_type 1 }\n" +
				"    use_backend %[req.ssl_sni,lower,map_dom(" + m + ",bk_def)]\n    default_backend bk_fallback\n\nbackend bk_a\n    server s1 " + a.addr() +
				"\n\nbackend bk_def\n    server s1 " + def.addr() + "\n\nbackend bk_fallback\n    server s1 " + fb.addr() + "\n"
			p := startProxy(t, e, cfg)
			for _, tc := range []struct{ sni, want string }{
				{"A.Example", "a A.Example"},
				{"b.example", "fallback b.example"},
				{"c.example", "def c.example"},
			} {
				if got := tlsWhich(t, p.Addr(0), tc.sni); got != tc.want {
					t.Errorf("sni %q reached %q, want %q", tc.sni, got, tc.want)
				}
			}
		}),
	pc("proxy-content-accept-proxy-sni", specContent+" (content rules run after the PROXY header and see its addresses)",
		"on an accept-proxy bind, a PROXY v1 header then a TLS ClientHello: use_backend bk_a if { req.ssl_sni -i a.example } { src 192.0.2.0/24 } routes by the header's source and the hello's SNI",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tlsTagged("a")), newBackend(t, tlsTagged("def"))
			fe := strings.Replace(sniRoutingFE, "bind 127.0.0.1:0", "bind 127.0.0.1:0 accept-proxy", 1)
			fe = strings.Replace(fe, "{ req.ssl_sni -i a.example }", "{ req.ssl_sni -i a.example } { src 192.0.2.0/24 }", 1)
			p := startProxy(t, e, cfgHead+fe+"\nbackend bk_a\n    server s1 "+a.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			_, pool := testPKI()
			for _, tc := range []struct{ src, want string }{{"192.0.2.7", "a a.example"}, {"198.51.100.7", "def a.example"}} {
				raw := dial(t, p.Addr(0), "")
				if _, err := fmt.Fprintf(raw, "PROXY TCP4 %s 203.0.113.1 40000 443\r\n", tc.src); err != nil {
					t.Fatal(err)
				}
				c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "a.example"})
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || strings.TrimSpace(line) != tc.want {
					t.Errorf("from %s reached %q (%v), want %q", tc.src, strings.TrimSpace(line), err, tc.want)
				}
			}
		}),
	pc("proxy-content-ssl-fc-sni", specContent+" (ssl_fc, ssl_fc_sni on an ssl bind)",
		"on `bind ... ssl crt`: use_backend bk_a if { ssl_fc_sni -i a.example }, content reject unless { ssl_fc }; TLS clients for a.example reach bk_a and others the default backend, over the terminated connection",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tagged("a")), newBackend(t, tagged("def"))
			crt := writePKIPem(t)
			cfg := cfgHead + "\nfrontend fe\n    bind 127.0.0.1:0 ssl crt " + crt + "\n    tcp-request content reject unless { ssl_fc }\n" +
				"    use_backend bk_a if { ssl_fc_sni -i a.example }\n    default_backend bk_def\n\nbackend bk_a\n    server s1 " + a.addr() +
				"\n\nbackend bk_def\n    server s1 " + def.addr() + "\n"
			p := startProxy(t, e, cfg)
			_, pool := testPKI()
			for _, tc := range []struct{ sni, want string }{{"a.example", "a"}, {"b.example", "def"}} {
				c := tls.Client(dial(t, p.Addr(0), ""), &tls.Config{RootCAs: pool, ServerName: tc.sni})
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || strings.TrimSpace(line) != tc.want {
					t.Errorf("sni %s reached %q (%v), want %q", tc.sni, strings.TrimSpace(line), err, tc.want)
				}
			}
		}),
	pc("proxy-content-sni-split-hello", specContent+" (the rules wait for the whole ClientHello)",
		"a ClientHello written in 1-byte segments is routed by its SNI once complete",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tlsTagged("a")), newBackend(t, tlsTagged("def"))
			// A long delay: the trickle's pace depends on the machine's
			// load, the case is about waiting for the whole hello.
			fe := strings.Replace(sniRoutingFE, "inspect-delay 5s", "inspect-delay 60s", 1)
			p := startProxy(t, e, cfgHead+fe+"\nbackend bk_a\n    server s1 "+a.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			_, pool := testPKI()
			raw := dial(t, p.Addr(0), "")
			_ = raw.SetNoDelay(true)
			c := tls.Client(&trickleConn{TCPConn: raw}, &tls.Config{RootCAs: pool, ServerName: "a.example"})
			_ = c.SetDeadline(time.Now().Add(50 * time.Second))
			if err := c.Handshake(); err != nil {
				t.Fatalf("TLS handshake with a 1-byte-segment ClientHello: %v", err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "a a.example" {
				t.Fatalf("reached %q (%v), want backend a", line, err)
			}
		}),
	pc("proxy-content-inspect-delay", specContent+" (inspect-delay bounds the wait; then the rules run on what is there)",
		"a client that sends nothing is routed to the default backend when inspect-delay (1s) expires, not before",
		func(t *harness.T, e harness.Engine) {
			a, def := newBackend(t, tagged("a")), newBackend(t, tagged("def"))
			fe := strings.Replace(sniRoutingFE, "inspect-delay 5s", "inspect-delay 1s", 1)
			p := startProxy(t, e, cfgHead+fe+"\nbackend bk_a\n    server s1 "+a.addr()+"\n\nbackend bk_def\n    server s1 "+def.addr()+"\n")
			start := time.Now()
			c := dial(t, p.Addr(0), "")
			line, err := readLine(c, 10*time.Second)
			if err != nil || line != "def" {
				t.Fatalf("silent client: %q, %v; want the default backend's tag", line, err)
			}
			if waited := time.Since(start); waited < 900*time.Millisecond {
				t.Errorf("routed after %v, before inspect-delay 1s expired", waited)
			}
		}),
	pc("proxy-content-reject", specContent+" (tcp-request content reject)",
		"tcp-request content reject if { req.payload(0,4) -m str EVIL }: that client is closed with nothing sent back and the backend never contacted; another is served",
		func(t *harness.T, e harness.Engine) {
			be := newBackend(t, echo)
			fe := "    tcp-request inspect-delay 5s\n    tcp-request content reject if { req.payload(0,4) -m str EVIL }\n    tcp-request content accept if { req.len ge 4 }\n"
			p := startProxy(t, e, simpleCfg("", fe, "", be.addr()))
			bad := dial(t, p.Addr(0), "")
			// In two segments: the rule must wait for the 4 bytes.
			_, _ = bad.Write([]byte("EV"))
			time.Sleep(50 * time.Millisecond) // two segments, not a sync point
			_, _ = bad.Write([]byte("IL\n"))
			seen, err := expectEOF(bad, closeWithin)
			if err != nil {
				t.Fatalf("rejected client: connection %v", err)
			}
			if len(seen) > 0 {
				t.Errorf("proxy sent %q before closing", seen)
			}
			good := dial(t, p.Addr(0), "")
			if err := roundTrip(good, []byte("GOOD\n"), []byte("GOOD\n"), 5*time.Second); err != nil {
				t.Fatalf("accepted client: %v", err)
			}
			if n := be.accepted.Load(); n != 1 {
				t.Errorf("backend saw %d connections, want 1", n)
			}
		}),
	pc("proxy-content-payload-routing", specContent+" (use_backend on req.payload)",
		"use_backend by the first bytes: req.payload(0,4) -m bin 50494e47 (PING) reaches backend 'ping', other protocols the default backend",
		func(t *harness.T, e harness.Engine) {
			ping, def := newBackend(t, tagged("ping")), newBackend(t, tagged("def"))
			cfg := cfgHead + "\nfrontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    tcp-request content accept if { req.len ge 4 }\n" +
				"    use_backend bk_ping if { req.payload(0,4) -m bin 50494e47 }\n    default_backend bk_def\n\nbackend bk_ping\n    server s1 " + ping.addr() +
				"\n\nbackend bk_def\n    server s1 " + def.addr() + "\n"
			p := startProxy(t, e, cfg)
			for _, tc := range []struct{ msg, want string }{{"PING\n", "ping"}, {"GET / HTTP/1.0\n", "def"}} {
				c := dial(t, p.Addr(0), "")
				if _, err := c.Write([]byte(tc.msg)); err != nil {
					t.Fatal(err)
				}
				line, err := readLine(c, 5*time.Second)
				if err != nil || line != tc.want {
					t.Errorf("%q reached %q (%v), want %q", tc.msg, line, err, tc.want)
				}
			}
		}),
}

// opensslWhich runs openssl s_client through the proxy, verifying the
// backend against the test CA, and returns the backend's first line.
func opensslWhich(t *harness.T, addr, sni string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is not installed (make deps installs it): %v", err)
	}
	cert, _ := testPKI()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", addr, "-servername", sni,
		"-CAfile", ca, "-verify_return_error", "-quiet", "-no_ign_eof")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_ = stdin.Close() // -no_ign_eof: s_client closes and exits
	if err != nil {
		_ = cmd.Process.Kill() // it says why on stderr
	}
	_ = cmd.Wait()
	if err != nil {
		t.Fatalf("openssl s_client -servername %s: no line from the backend (%v); stderr: %s", sni, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(line)
}

// trickleConn writes its first Write (the ClientHello) one byte per
// segment (Nagle off): a hello split at every offset on the wire. Later
// writes go as they are.
type trickleConn struct {
	*net.TCPConn
	done bool
}

func (c *trickleConn) Write(b []byte) (int, error) {
	if c.done {
		return c.TCPConn.Write(b)
	}
	c.done = true
	for i := range b {
		if _, err := c.TCPConn.Write(b[i : i+1]); err != nil {
			return i, err
		}
		time.Sleep(200 * time.Microsecond) // separate segments, not a sync point
	}
	return len(b), nil
}
