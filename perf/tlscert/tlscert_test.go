package tlscert

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerate(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		keyType any
	}{{ECDSAP256, &ecdsa.PublicKey{}}, {RSA2048, &rsa.PublicKey{}}} {
		t.Run(tc.kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.pem")
			if err := Write(path, tc.kind); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The one file holds both halves, as `crt FILE` wants.
			pair, err := tls.X509KeyPair(b, b)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			switch pub := leaf.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if _, ok := tc.keyType.(*ecdsa.PublicKey); !ok || pub.Curve.Params().BitSize != 256 {
					t.Fatalf("key %T %d bits", pub, pub.Curve.Params().BitSize)
				}
			case *rsa.PublicKey:
				if _, ok := tc.keyType.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
					t.Fatalf("key %T %d bits", pub, pub.N.BitLen())
				}
			default:
				t.Fatalf("key %T", pub)
			}
			pool := x509.NewCertPool()
			pool.AddCert(leaf)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
				t.Fatalf("verify for localhost: %v", err)
			}
			if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Generate("dsa"); err == nil {
		t.Fatal("unknown kind: no error")
	}
}
