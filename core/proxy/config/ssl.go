package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The TLS keywords of bind and server lines ("ssl", "crt", "verify", ...).
// Certificates and CA files are loaded while parsing, as HAProxy does, so
// a missing or bad file is a configuration error at its line.

// Verify is a peer-verification mode.
type Verify int

// Modes ("verify none|optional|required").
const (
	VerifyDefault Verify = iota // not set on the line
	VerifyNone
	VerifyOptional
	VerifyRequired
)

func (v Verify) String() string {
	switch v {
	case VerifyNone:
		return "none"
	case VerifyOptional:
		return "optional"
	case VerifyRequired:
		return "required"
	}
	return "default"
}

// BindSSL is a bind line's TLS termination ("ssl" and its options).
type BindSSL struct {
	// Enabled is "ssl": without it a crt is loaded but the bind is plain
	// TCP, as in HAProxy.
	Enabled bool
	// Certs from every "crt" (files, and directories in name order); the
	// first is the default when no certificate matches the client's SNI.
	Certs     []tls.Certificate
	CertFiles []string
	ALPN      []string
	// MinVersion and MaxVersion: 0 for crypto/tls's defaults.
	MinVersion, MaxVersion uint16
	// CipherSuites for TLS 1.0–1.2 from "ciphers" (nil: crypto/tls's).
	CipherSuites []uint16
	// Ciphers and CipherSuites13 are the texts of "ciphers" and
	// "ciphersuites" as written.
	Ciphers, CipherSuites13 string
	CAFile                  string
	ClientCAs               *x509.CertPool
	Verify                  Verify
	// NoTickets is "no-tls-tickets": no session tickets are issued, so
	// a client cannot resume (crypto/tls's SessionTicketsDisabled).
	NoTickets bool
}

// ServerSSL is a server line's TLS origination ("ssl" and its options).
type ServerSSL struct {
	Enabled bool
	Verify  Verify // VerifyDefault: the global ssl-server-verify (required)
	CAFile  string
	RootCAs *x509.CertPool
	// SNI is the server name sent; nil: none (HAProxy sends none unless
	// "sni" is given).
	SNI  *SNIExpr
	ALPN []string
	// Cert is the client certificate ("crt"), if any.
	Cert                   *tls.Certificate
	MinVersion, MaxVersion uint16
	CipherSuites           []uint16

	certFile string // "crt" as written, loaded once the line is read
}

// SNIKind is what a server "sni" expression takes its value from.
type SNIKind int

// Kinds of SNI expressions.
const (
	SNIConst       SNIKind = iota // str(TEXT)
	SNIFrontend                   // ssl_fc_sni: the name the client sent to our TLS bind
	SNIClientHello                // req.ssl_sni: the name in the client's ClientHello (also when passed through)
)

// SNIExpr is a server's "sni" expression. Only the fetches an SNI needs in
// tcp mode are known (more come with the sample framework).
type SNIExpr struct {
	Kind  SNIKind
	Value string // SNIConst's text
	Text  string // as written
}

// parseSNIExpr reads "str(x)", "ssl_fc_sni" or "req.ssl_sni".
func parseSNIExpr(s string) (*SNIExpr, error) {
	switch {
	case s == "ssl_fc_sni":
		return &SNIExpr{Kind: SNIFrontend, Text: s}, nil
	case s == "req.ssl_sni" || s == "req_ssl_sni":
		return &SNIExpr{Kind: SNIClientHello, Text: s}, nil
	case strings.HasPrefix(s, "str(") && strings.HasSuffix(s, ")"):
		return &SNIExpr{Kind: SNIConst, Value: s[4 : len(s)-1], Text: s}, nil
	}
	name := s
	if i := strings.IndexAny(name, "(,"); i >= 0 {
		name = name[:i]
	}
	return nil, fmt.Errorf("error detected while parsing sni expression : unknown fetch method '%s'", name)
}

// tlsVersions are the names "ssl-min-ver"/"ssl-max-ver" take.
var tlsVersions = map[string]uint16{
	"TLSv1.0": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

func parseTLSVersion(s string) (uint16, error) {
	if v, ok := tlsVersions[s]; ok {
		return v, nil
	}
	if s == "SSLv3" {
		return 0, fmt.Errorf("'SSLv3' : SSLv3 is not supported (crypto/tls has no SSLv3)")
	}
	return 0, fmt.Errorf("'%s' : unknown ssl/tls version", s)
}

// parseALPN checks a comma-delimited ALPN list.
func parseALPN(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p == "" || len(p) > 255 {
			return nil, fmt.Errorf("'alpn' : invalid protocol name '%s' in '%s'", p, s)
		}
		out = append(out, p)
	}
	return out, nil
}

// strerror is the C library's text for a file error (HAProxy prints
// strerror(errno)): Go's with a capital letter.
func strerror(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// loadCrt loads a crt argument: a PEM file holding the certificate chain
// and (HAProxy's layout) its private key, or else a key in FILE.key; or a
// directory, whose files are loaded in name order (".key", ".ocsp",
// ".issuer", ".sctl" and ".crl" files are companions, not certificates).
func loadCrt(path string) ([]tls.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("unable to stat SSL certificate from file '%s' : %s.", path, strerror(err))
	}
	if !st.IsDir() {
		c, err := loadCrtFile(path)
		if err != nil {
			return nil, err
		}
		return []tls.Certificate{c}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("unable to scan directory '%s' : %s.", path, strerror(err))
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var out []tls.Certificate
	for _, e := range ents {
		name := e.Name()
		switch filepath.Ext(name) {
		case ".key", ".ocsp", ".issuer", ".sctl", ".crl":
			continue
		}
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		c, err := loadCrtFile(filepath.Join(path, name))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate found in directory '%s'.", path)
	}
	return out, nil
}

func loadCrtFile(path string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("unable to stat SSL certificate from file '%s' : %s.", path, strerror(err))
	}
	if !hasPEM(data, "CERTIFICATE") {
		return tls.Certificate{}, fmt.Errorf("unable to load certificate from file '%s'.", path)
	}
	keyData := data
	if !hasPEM(data, "PRIVATE KEY") {
		keyData, err = os.ReadFile(path + ".key")
		if err != nil || !hasPEM(keyData, "PRIVATE KEY") {
			return tls.Certificate{}, fmt.Errorf("No Private Key found in '%s.key'.", path)
		}
	}
	c, err := tls.X509KeyPair(data, keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("unable to load SSL private key into SSL Context '%s' (%v).", path, err)
	}
	return c, nil
}

// hasPEM reports whether data has a PEM block whose type ends with kind
// ("PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY").
func hasPEM(data []byte, kind string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, kind) {
			return true
		}
	}
}

// loadCAFile reads a ca-file into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Couldn't open the ca-file '%s' (%s).", path, strerror(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("'ca-file' : unable to load %s.", path)
	}
	return pool, nil
}

// withBase joins a relative path to a base directory (crt-base, ca-base).
func withBase(base, path string) string {
	if base == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}
