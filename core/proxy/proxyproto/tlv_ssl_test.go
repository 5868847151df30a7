package proxyproto

import "testing"

// TestSSLTLV against the captures (decoded.txt lists the same values).
func TestSSLTLV(t *testing.T) {
	tests := []struct {
		name     string
		client   uint8
		verified bool
		sub      map[uint8]string
		absent   []uint8
	}{
		{"v2-tcp4-tls-clientcert", 0x07, true, map[uint8]string{
			SubtypeSSLVersion: "TLSv1.3", SubtypeSSLCN: "client.vectors.test", SubtypeSSLKeyAlg: "RSA2048",
			SubtypeSSLSigAlg: "RSA-SHA256", SubtypeSSLCipher: "TLS_AES_256_GCM_SHA384"}, nil},
		{"v2-tcp6-tls", 0x01, false, map[uint8]string{SubtypeSSLVersion: "TLSv1.3", SubtypeSSLCipher: "TLS_AES_256_GCM_SHA384"}, []uint8{SubtypeSSLCN}},
		{"v2-tcp4-tlv-notls", 0x00, false, nil, []uint8{SubtypeSSLVersion}},
	}
	for _, tc := range tests {
		h, _, err := Decode(readVector(t, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		s, ok, err := h.SSL()
		if !ok || err != nil {
			t.Fatalf("%s: SSL TLV %v, %v", tc.name, ok, err)
		}
		if s.Client != tc.client || s.Verify != 0 || s.Verified() != tc.verified {
			t.Errorf("%s: client 0x%02x verify %d verified %v", tc.name, s.Client, s.Verify, s.Verified())
		}
		for typ, want := range tc.sub {
			if got, _ := s.Sub(typ); got != want {
				t.Errorf("%s: sub-TLV 0x%02x = %q, want %q", tc.name, typ, got, want)
			}
		}
		for _, typ := range tc.absent {
			if _, ok := s.Sub(typ); ok {
				t.Errorf("%s: unexpected sub-TLV 0x%02x", tc.name, typ)
			}
		}
	}
	for _, bad := range [][]byte{{0x01}, {0x01, 0, 0, 0, 0, 0x21, 0}, {0x01, 0, 0, 0, 0, 0x21, 0, 9, 'x'}} {
		if _, err := ParseSSL(bad); err == nil {
			t.Errorf("ParseSSL(%x) accepted", bad)
		}
	}
	if _, ok, _ := (Header{}).SSL(); ok {
		t.Error("SSL on a header without one")
	}
}
