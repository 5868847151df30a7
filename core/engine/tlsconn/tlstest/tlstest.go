// Package tlstest makes certificates for tests: a throw-away CA and leaf
// certificates (ECDSA P-256 or RSA-2048) signed by it, with crypto/x509,
// as tls.Certificate values and as HAProxy's PEM files (the chain then the
// private key in one file).
package tlstest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Alg is a key algorithm.
type Alg int

// Algorithms.
const (
	ECDSAP256 Alg = iota
	RSA2048
)

func (a Alg) String() string {
	if a == RSA2048 {
		return "RSA-2048"
	}
	return "ECDSA-P256"
}

func newKey(a Alg) (crypto.Signer, error) {
	if a == RSA2048 {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// CA is a certificate authority for one test.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA certificate (a ca-file).
	PEM []byte
	// Pool holds the CA certificate, for RootCAs or ClientCAs.
	Pool *x509.CertPool
}

// Leaf is a certificate signed by a CA.
type Leaf struct {
	Cert tls.Certificate
	// PEM is HAProxy's crt file: the certificate, then the private key.
	PEM []byte
}

var serial atomic.Int64

func init() { serial.Store(time.Now().UnixNano()) }

func nextSerial() *big.Int { return big.NewInt(serial.Add(1)) }

// NewCA makes a CA with a key of alg.
func NewCA(alg Alg, name string) (*CA, error) {
	key, err := newKey(alg)
	if err != nil {
		return nil, fmt.Errorf("tlstest: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlstest: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool,
		PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue signs a leaf for names (DNS names or IP addresses; the first is
// the subject's common name), usable by servers and clients.
func (ca *CA) Issue(alg Alg, names ...string) (*Leaf, error) {
	key, err := newKey(alg)
	if err != nil {
		return nil, fmt.Errorf("tlstest: leaf key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if alg == RSA2048 {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for i, n := range names {
		if i == 0 {
			tmpl.Subject.CommonName = n
		}
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("tlstest: leaf certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(buf.Bytes(), buf.Bytes())
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, PEM: buf.Bytes()}, nil
}

// MustCA is NewCA for tests.
func MustCA(tb testing.TB, alg Alg, name string) *CA {
	tb.Helper()
	ca, err := NewCA(alg, name)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// MustIssue is Issue for tests.
func (ca *CA) MustIssue(tb testing.TB, alg Alg, names ...string) *Leaf {
	tb.Helper()
	l, err := ca.Issue(alg, names...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// WriteFile writes b to dir/name and returns the path.
func WriteFile(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
