// Package tlscert makes the certificates of the TLS scenarios at run time
// with crypto/x509: a self-signed leaf for 127.0.0.1 and "localhost" with
// an ECDSA P-256 or an RSA-2048 key, written as one PEM file (certificate
// then PKCS#8 key), the form HAProxy's `crt FILE` and the engines' proxy
// both read. Nothing is stored in the repository.
package tlscert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Key types.
const (
	ECDSAP256 = "ecdsa-p256"
	RSA2048   = "rsa-2048"
)

// Kinds lists the key types Generate accepts.
var Kinds = []string{ECDSAP256, RSA2048}

// Generate returns a PEM block sequence: a self-signed certificate valid
// for a day (from an hour ago, for clock skew between processes) for
// 127.0.0.1, ::1 and localhost, then its private key in PKCS#8.
func Generate(kind string) ([]byte, error) {
	var key crypto.Signer
	var err error
	switch kind {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("tlscert: unknown key type %q (want one of %v)", kind, Kinds)
	}
	if err != nil {
		return nil, fmt.Errorf("tlscert: %s key: %w", kind, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("tlscert: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"netmodels perf"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if kind == RSA2048 {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...), nil
}

// Write generates a certificate of kind and writes it to path (mode 0600:
// it holds the private key).
func Write(path, kind string) error {
	b, err := Generate(kind)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	return nil
}
