package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
)

// sslFiles writes a CA, two PEM-with-key certificates, a certificate whose
// key is in FILE.key, and a directory holding two certificates.
func sslFiles(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	ca := tlstest.MustCA(t, tlstest.ECDSAP256, "CA")
	tlstest.WriteFile(t, dir, "ca.pem", ca.PEM)
	tlstest.WriteFile(t, dir, "a.pem", ca.MustIssue(t, tlstest.ECDSAP256, "a.test").PEM)
	tlstest.WriteFile(t, dir, "b.pem", ca.MustIssue(t, tlstest.RSA2048, "b.test").PEM)
	split := ca.MustIssue(t, tlstest.ECDSAP256, "split.test").PEM
	i := strings.Index(string(split), "-----BEGIN PRIVATE KEY")
	tlstest.WriteFile(t, dir, "split.pem", split[:i])
	tlstest.WriteFile(t, dir, "split.pem.key", split[i:])
	tlstest.WriteFile(t, dir, "nokey.pem", split[:i])
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	tlstest.WriteFile(t, filepath.Join(dir, "d"), "2.pem", ca.MustIssue(t, tlstest.ECDSAP256, "two.test").PEM)
	tlstest.WriteFile(t, filepath.Join(dir, "d"), "1.pem", ca.MustIssue(t, tlstest.ECDSAP256, "one.test").PEM)
	tlstest.WriteFile(t, filepath.Join(dir, "d"), "1.pem.ocsp", []byte("not a certificate"))
	return dir
}

const sslTail = " timeout client 1s\n timeout connect 1s\n timeout server 1s\n"

func TestBindSSL(t *testing.T) {
	dir := sslFiles(t)
	cfg, err := parse(t, "global\n crt-base "+dir+"\n ca-base "+dir+"\nlisten l\n bind 127.0.0.1:1,127.0.0.1:2 ssl crt a.pem crt b.pem crt split.pem crt d alpn h2,http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ca-file ca.pem verify optional ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n server s 1.2.3.4:5\n"+sslTail)
	if err != nil {
		t.Fatal(err)
	}
	binds := cfg.Frontends[0].Binds
	if len(binds) != 2 {
		t.Fatalf("%d binds", len(binds))
	}
	b := binds[1].SSL
	if !b.Enabled || len(b.Certs) != 5 || b.ClientCAs == nil || b.Verify != VerifyOptional {
		t.Fatalf("bind ssl %+v", b)
	}
	var names []string
	for _, c := range b.Certs {
		names = append(names, c.Leaf.Subject.CommonName)
	}
	if got := strings.Join(names, ","); got != "a.test,b.test,split.test,one.test,two.test" {
		t.Errorf("certificates in order %s", got)
	}
	if strings.Join(b.ALPN, ",") != "h2,http/1.1" || b.MinVersion != tls.VersionTLS12 || b.MaxVersion != tls.VersionTLS13 {
		t.Errorf("alpn %v versions %x-%x", b.ALPN, b.MinVersion, b.MaxVersion)
	}
	if len(b.CipherSuites) != 2 || b.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("ciphers %v", b.CipherSuites)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
	// crt without ssl loads but leaves the bind plain (HAProxy).
	cfg, err = parse(t, "listen l\n bind :1 crt "+filepath.Join(dir, "a.pem")+"\n server s 1.2.3.4:5\n"+sslTail)
	if err != nil || cfg.Frontends[0].Binds[0].SSL.Enabled {
		t.Fatalf("crt without ssl: %v", err)
	}
}

func TestServerSSL(t *testing.T) {
	dir := sslFiles(t)
	ca := filepath.Join(dir, "ca.pem")
	cfg, err := parse(t, "backend b\n default-server ssl verify required ca-file "+ca+" sni ssl_fc_sni alpn http/1.1\n server s 1.2.3.4:5 crt "+filepath.Join(dir, "a.pem")+" send-proxy-v2-ssl-cn check-ssl\n server t 1.2.3.4:6 no-ssl\n server u 1.2.3.4:7 sni str(x.test) verify none\n"+sslTail+"listen z\n bind :9\n")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Backend("b").Servers
	if !s[0].SSL.Enabled || s[0].SSL.RootCAs == nil || s[0].SSL.Cert == nil || s[0].SendProxy != 2 || s[0].SendProxySSL != 2 || !s[0].CheckSSL {
		t.Errorf("server s %+v", s[0])
	}
	if s[0].SSL.ServerName("front.test", "hello.test") != "front.test" {
		t.Errorf("sni ssl_fc_sni")
	}
	if s[1].SSL.Enabled {
		t.Errorf("no-ssl kept ssl")
	}
	if s[2].SSL.Verify != VerifyNone || s[2].SSL.ServerName("a", "b") != "x.test" {
		t.Errorf("server u %+v", s[2].SSL)
	}
	// ssl-server-verify none makes verify none the default.
	if _, err := parse(t, "global\n ssl-server-verify none\nbackend b\n server s 1.2.3.4:5 ssl\n"+sslTail+"listen z\n bind :9\n"); err != nil {
		t.Errorf("ssl-server-verify none: %v", err)
	}
}

// The errors are HAProxy 2.6's texts (checked with haproxy -c), after the
// line's prefix.
func TestSSLErrors(t *testing.T) {
	dir := sslFiles(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct{ cfg, want string }{
		{"frontend f\n bind 127.0.0.1:9 ssl\n", `cfg:2: Proxy 'f': no SSL certificate specified for bind '127.0.0.1:9' at [cfg:2] (use 'crt').`},
		{"frontend f\n bind :9 ssl crt " + p("missing.pem") + "\n", `cfg:2: bind: unable to stat SSL certificate from file '` + p("missing.pem") + `' : No such file or directory.`},
		{"frontend f\n bind :9 ssl crt " + p("nokey.pem") + "\n", `cfg:2: bind: No Private Key found in '` + p("nokey.pem") + `.key'.`},
		{"frontend f\n bind :9 ssl crt " + p("ca.pem") + "\n", `cfg:2: bind: No Private Key found in '` + p("ca.pem") + `.key'.`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " verify required\n", `cfg:2: Proxy 'f': verify is enabled but no CA file specified for bind ':9' at [cfg:2].`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " verify bogus\n", `cfg:2: bind: 'verify' : unknown verify method 'bogus', only 'none', 'optional', and 'required' are supported`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " ssl-min-ver TLSv1.4\n", `cfg:2: bind: 'TLSv1.4' : unknown ssl/tls version`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2\n", `cfg:2: Proxy 'f': all SSL/TLS versions are disabled for bind ':9' at [cfg:2].`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " ciphers NOPE\n", `cfg:2: bind: unable to set SSL cipher list to 'NOPE' (unknown cipher 'NOPE').`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " ciphersuites NOPE\n", `cfg:2: bind: unable to set TLS 1.3 cipher suites to 'NOPE' (unknown TLS 1.3 cipher suite 'NOPE').`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " ca-file " + p("nope.pem") + "\n", `cfg:2: bind: Couldn't open the ca-file '` + p("nope.pem") + `' (No such file or directory).`},
		{"frontend f\n bind :9 ssl crt " + p("a.pem") + " strict-sni\n", `cfg:2: bind: 'strict-sni' (TLS) is not supported`},
		{"backend b\n server s 1.2.3.4:5 ssl\n", `cfg:2: 'server b/s' : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.`},
		{"backend b\n server s 1.2.3.4:5 ssl verify bogus\n", `cfg:2: 'server b/s': 'verify' : unknown verify method 'bogus', only 'none' and 'required' are supported.`},
		{"backend b\n server s 1.2.3.4:5 ssl verify required ca-file " + p("nope.pem") + "\n", `cfg:2: 'server b/s' : Couldn't open the ca-file '` + p("nope.pem") + `' (No such file or directory).`},
		{"backend b\n server s 1.2.3.4:5 ssl verify none sni frob(x)\n", `cfg:2: 'server b/s': error detected while parsing sni expression : unknown fetch method 'frob'`},
		{"backend b\n server s 1.2.3.4:5 ssl verify none verifyhost x\n", `cfg:2: 'server b/s': 'verifyhost' (TLS) is not supported`},
		{"global\n ssl-server-verify maybe\n", `cfg:2: 'ssl-server-verify' expects 'none' or 'required' as argument.`},
		{"global\n crt-base\n", `cfg:2: global statement 'crt-base' expects a directory path as an argument.`},
	} {
		_, err := parse(t, tc.cfg+"listen z\n bind :8\n"+sslTail)
		var pe *Error
		if !errors.As(err, &pe) || err.Error() != tc.want {
			t.Errorf("%q:\n got  %v\n want %s", tc.cfg, err, tc.want)
		}
	}
}

func TestSSLWarnings(t *testing.T) {
	dir := sslFiles(t)
	cfg, err := parse(t, "listen l\n bind :9 ssl crt "+filepath.Join(dir, "a.pem")+" ciphers HIGH:!aNULL ciphersuites TLS_AES_128_GCM_SHA256 npn h2 no-sslv3\n server s 1.2.3.4:5\n"+sslTail)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		"cfg:2: warning: bind: ciphersuites 'TLS_AES_128_GCM_SHA256' not honoured: crypto/tls cannot choose TLS 1.3 suites and offers " + go13 + " (not listed, offered anyway: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256)",
		"cfg:2: warning: bind :9: ciphers 'HIGH:!aNULL': OpenSSL cipher classes are not interpreted; crypto/tls's choice of suites is used for what they name",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const go13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

// TestCipherSuites13: crypto/tls cannot choose its TLS 1.3 suites, so a
// "ciphersuites" list (bind, server, default-server, the global
// ssl-default-*-ciphersuites) that names exactly the three it offers is
// honoured as is (any order), and any other list gets one warning at the
// line that wrote it, saying what is not honoured; never a silent ignore.
func TestCipherSuites13(t *testing.T) {
	dir := sslFiles(t)
	crt := filepath.Join(dir, "a.pem")
	notHonoured := func(line int, who, list, gap string) string {
		return fmt.Sprintf("cfg:%d: warning: %s: ciphersuites '%s' not honoured: crypto/tls cannot choose TLS 1.3 suites and offers %s (%s)", line, who, list, go13, gap)
	}
	for _, tc := range []struct {
		name, cfg string
		want      []string
	}{
		{"bind, crypto/tls's three", "listen l\n bind :9 ssl crt " + crt + " ciphersuites " + go13 + "\n server s 1.2.3.4:5\n", nil},
		{"bind, the three reordered", "listen l\n bind :9 ssl crt " + crt + " ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256\n server s 1.2.3.4:5\n", nil},
		{"bind, a subset", "listen l\n bind :9 ssl crt " + crt + " ciphersuites TLS_AES_256_GCM_SHA384\n server s 1.2.3.4:5\n",
			[]string{notHonoured(2, "bind", "TLS_AES_256_GCM_SHA384", "not listed, offered anyway: TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")}},
		{"bind, CCM too", "listen l\n bind :9 ssl crt " + crt + " ciphersuites " + go13 + ":TLS_AES_128_CCM_SHA256\n server s 1.2.3.4:5\n",
			[]string{notHonoured(2, "bind", go13+":TLS_AES_128_CCM_SHA256", "not in crypto/tls, never offered: TLS_AES_128_CCM_SHA256")}},
		{"server", "listen l\n bind :9\n server s 1.2.3.4:5 ssl verify none ciphersuites TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256\n",
			[]string{notHonoured(3, `'server l/s'`, "TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256", "not in crypto/tls, never offered: TLS_AES_128_CCM_SHA256; not listed, offered anyway: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")}},
		{"server, crypto/tls's three", "listen l\n bind :9\n server s 1.2.3.4:5 ssl verify none ciphersuites " + go13 + "\n", nil},
		{"default-server: once, at its line", "listen l\n bind :9\n default-server ssl verify none ciphersuites TLS_AES_128_GCM_SHA256\n server s 1.2.3.4:5\n server t 1.2.3.4:6\n",
			[]string{notHonoured(3, "default-server", "TLS_AES_128_GCM_SHA256", "not listed, offered anyway: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")}},
		{"ssl-default-bind-ciphersuites: once, at the global line", "global\n ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256\nlisten l\n bind :9 ssl crt " + crt + "\n bind :10 ssl crt " + crt + "\n server s 1.2.3.4:5\n",
			[]string{notHonoured(2, "ssl-default-bind-ciphersuites", "TLS_AES_128_GCM_SHA256", "not listed, offered anyway: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")}},
		{"ssl-default-bind-ciphersuites and the line's own", "global\n ssl-default-bind-ciphersuites " + go13 + "\nlisten l\n bind :9 ssl crt " + crt + " ciphersuites TLS_AES_128_GCM_SHA256\n server s 1.2.3.4:5\n",
			[]string{notHonoured(4, "bind", "TLS_AES_128_GCM_SHA256", "not listed, offered anyway: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")}},
		{"ssl-default-server-ciphersuites: once, at the global line", "global\n ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384\nlisten l\n bind :9\n server s 1.2.3.4:5 ssl verify none\n server t 1.2.3.4:6 ssl verify none\n",
			[]string{notHonoured(2, "ssl-default-server-ciphersuites", "TLS_AES_256_GCM_SHA384", "not listed, offered anyway: TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")}},
	} {
		cfg, err := parse(t, tc.cfg+sslTail)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, w := range cfg.Warnings {
			got = append(got, w.String())
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: warnings:\n%s\nwant:\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestParseCiphers(t *testing.T) {
	for _, tc := range []struct {
		in          string
		n           int
		interpreted bool
		err         bool
	}{
		{"ECDHE-RSA-AES128-GCM-SHA256", 1, true, false},
		{"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:!ECDHE-RSA-AES128-GCM-SHA256", 1, true, false},
		{"HIGH:!aNULL:!MD5", 0, false, false},
		{"ECDHE+AESGCM:ECDHE-RSA-AES128-SHA", 1, false, false},
		{"DHE-RSA-AES128-GCM-SHA256", 0, false, false},
		{"NOPE", 0, false, true},
		{"!ECDHE-RSA-AES128-SHA", 0, false, true},
	} {
		s, interp, err := parseCiphers(tc.in)
		if (err != nil) != tc.err || len(s) != tc.n || interp != tc.interpreted {
			t.Errorf("%q: %v %v %v", tc.in, s, interp, err)
		}
	}
}

// FuzzSSLWords feeds arbitrary words to the TLS word parsers (cipher
// lists, TLS 1.3 suites, ALPN lists, SNI expressions, versions): they
// return a value or an error, never panic, and an accepted value is
// consistent with its input.
func FuzzSSLWords(f *testing.F) {
	for _, s := range []string{"ECDHE-RSA-AES128-GCM-SHA256:!aNULL", "HIGH:!MD5", "ECDHE+AESGCM", "!", "+", ":", "",
		"TLS_AES_128_GCM_SHA256", "h2,http/1.1", ",", "str(x)", "str()", "ssl_fc_sni", "req.ssl_sni", "frob(", "TLSv1.3", "SSLv3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if suites, _, err := parseCiphers(s); err == nil && len(suites) > len(s) {
			t.Fatalf("%q: %d suites from %d bytes", s, len(suites), len(s))
		}
		_ = checkCipherSuites13(s)
		if l, err := parseALPN(s); err == nil && strings.Join(l, ",") != s {
			t.Fatalf("%q: ALPN %q", s, l)
		}
		if e, err := parseSNIExpr(s); err == nil && e.Text != s {
			t.Fatalf("%q: expression %q", s, e.Text)
		}
		if v, err := parseTLSVersion(s); err == nil && v == 0 {
			t.Fatalf("%q: version 0", s)
		}
	})
}

// TestDefaultBindSSL: the global ssl-default-bind-* words apply to every
// ssl bind before its own words, and not to plain binds.
func TestDefaultBindSSL(t *testing.T) {
	dir := sslFiles(t)
	cfg, err := parse(t, "global\n crt-base "+dir+"\n ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets\n ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256\n"+
		"listen l\n bind 127.0.0.1:1 ssl crt a.pem\n bind 127.0.0.1:2 ssl crt a.pem ssl-min-ver TLSv1.2\n bind 127.0.0.1:3\n server s 1.2.3.4:5\n"+sslTail)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Frontends[0].Binds
	if s := b[0].SSL; !s.NoTickets || s.MinVersion != tls.VersionTLS13 || len(s.CipherSuites) != 1 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s := b[1].SSL; s.MinVersion != tls.VersionTLS12 || !s.NoTickets {
		t.Errorf("the line's own ssl-min-ver should win over the default: %+v", s)
	}
	if s := b[2].SSL; s.Enabled || s.NoTickets {
		t.Errorf("a plain bind took the ssl defaults: %+v", s)
	}
	if _, err := parse(t, "global\n ssl-default-bind-options frobnicate\nlisten l\n bind :1\n server s 1.2.3.4:5\n"+sslTail); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("a bad default word should fail at its global line: %v", err)
	}
}

// TestDefaultServerSSL: the global ssl-default-server-* versions and
// ciphers go to every ssl server that sets none of its own, not to plain
// servers; a bad word fails at its global line.
func TestDefaultServerSSL(t *testing.T) {
	cfg, err := parse(t, "global\n ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n ssl-default-server-ciphers ECDHE-ECDSA-AES128-GCM-SHA256\n"+
		"listen l\n bind 127.0.0.1:1\n server a 1.2.3.4:5 ssl verify none\n server b 1.2.3.4:6 ssl verify none ssl-min-ver TLSv1.2 ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384\n server c 1.2.3.4:7\n"+sslTail)
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.Backends[0].Servers
	if s := srv[0].SSL; s.MinVersion != tls.VersionTLS13 || len(s.CipherSuites) != 1 {
		t.Errorf("defaults not applied: min %x ciphers %v", s.MinVersion, s.CipherSuites)
	}
	if s := srv[1].SSL; s.MinVersion != tls.VersionTLS12 || len(s.CipherSuites) != 2 {
		t.Errorf("the line's own settings should win: min %x ciphers %v", s.MinVersion, s.CipherSuites)
	}
	if s := srv[2].SSL; s.Enabled || s.MinVersion != 0 || s.CipherSuites != nil {
		t.Errorf("a plain server took the ssl defaults: %+v", s)
	}
	if _, err := parse(t, "global\n ssl-default-server-options frobnicate\nlisten l\n bind :1\n server s 1.2.3.4:5\n"+sslTail); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("a bad default word should fail at its global line: %v", err)
	}
}
