package proxyproto

import (
	"encoding/binary"
	"fmt"
)

// Bits of the SSL TLV's client field (spec §2.2.5).
const (
	SSLClientSSL      uint8 = 0x01 // the client used TLS
	SSLClientCertConn uint8 = 0x02 // it sent a certificate on this connection
	SSLClientCertSess uint8 = 0x04 // it sent one at least once in this TLS session
)

// SSL is the decoded PP2_TYPE_SSL TLV. Note that HAProxy sends Verify 0
// with Client 0 on plain TCP, so Verify == 0 alone does not mean a client
// certificate was verified: check the CERT bits too.
type SSL struct {
	Client uint8
	Verify uint32
	// Sub-TLVs (VERSION, CN, CIPHER, SIG_ALG, KEY_ALG), in wire order. They
	// share memory with the Header's TLV value.
	TLVs []TLV
}

// Verified reports that the client sent a certificate and it verified.
func (s SSL) Verified() bool {
	return s.Client&(SSLClientCertConn|SSLClientCertSess) != 0 && s.Verify == 0
}

// Sub returns the value of the first sub-TLV of type typ.
func (s SSL) Sub(typ uint8) (string, bool) {
	for _, t := range s.TLVs {
		if t.Type == typ {
			return string(t.Value), true
		}
	}
	return "", false
}

// ParseSSL decodes the value of a PP2_TYPE_SSL TLV: 1-byte client, 4-byte
// verify, then sub-TLVs that must fill the value exactly.
func ParseSSL(v []byte) (SSL, error) {
	if len(v) < 5 {
		return SSL{}, fmt.Errorf("proxyproto: SSL TLV of %d bytes, need at least 5", len(v))
	}
	s := SSL{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5])}
	for p := 5; p < len(v); {
		if len(v)-p < 3 {
			return SSL{}, fmt.Errorf("proxyproto: SSL TLV: %d trailing bytes at offset %d", len(v)-p, p)
		}
		n := int(binary.BigEndian.Uint16(v[p+1 : p+3]))
		if p+3+n > len(v) {
			return SSL{}, fmt.Errorf("proxyproto: SSL sub-TLV 0x%02x of %d bytes runs past the SSL TLV", v[p], n)
		}
		s.TLVs = append(s.TLVs, TLV{Type: v[p], Value: v[p+3 : p+3+n : p+3+n]})
		p += 3 + n
	}
	return s, nil
}

// SSL decodes the header's SSL TLV; ok is false when there is none.
func (h Header) SSL() (s SSL, ok bool, err error) {
	v, ok := h.TLV(TypeSSL)
	if !ok {
		return SSL{}, false, nil
	}
	s, err = ParseSSL(v)
	return s, true, err
}
