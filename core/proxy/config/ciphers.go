package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// OpenSSL cipher names that crypto/tls implements, for "ciphers" (TLS 1.0
// to 1.2). crypto/tls fixes the TLS 1.3 suites; "ciphersuites" is checked,
// and a list that does not name exactly the suites crypto/tls offers is
// warned about (cipherSuites13Gap).
var opensslCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// opensslCipherWords are the other words of OpenSSL's cipher-list
// language (aliases, classes, ciphers crypto/tls lacks): accepted in a
// list, never selected.
var opensslCipherWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ALL COMPLEMENTOFALL COMPLEMENTOFDEFAULT DEFAULT HIGH MEDIUM LOW
		eNULL NULL aNULL kRSA RSA aRSA kDHE kEDH DH DHE EDH ADH kECDHE kEECDH ECDH ECDHE EECDH AECDH
		aECDSA ECDSA aDSS DSS aDH aECDH kPSK kECDHEPSK kDHEPSK kRSAPSK PSK ECDHEPSK DHEPSK RSAPSK
		aPSK kSRP SRP aSRP kGOST aGOST GOST TLSv1.2 TLSv1.0 TLSv1 SSLv3 AES128 AES256 AES AESGCM AESCCM
		AESCCM8 ARIA128 ARIA256 ARIA CAMELLIA128 CAMELLIA256 CAMELLIA CHACHA20 3DES DES RC4 RC2 IDEA SEED
		MD5 SHA1 SHA SHA256 SHA384 SUITEB128 SUITEB128ONLY SUITEB192 EXP EXPORT EXPORT40 EXPORT56 LOW
		@STRENGTH DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES256-GCM-SHA384 DHE-RSA-CHACHA20-POLY1305
		DHE-RSA-AES128-SHA256 DHE-RSA-AES256-SHA256 DHE-RSA-AES128-SHA DHE-RSA-AES256-SHA
		ECDHE-ECDSA-AES256-SHA384 ECDHE-RSA-AES256-SHA384 AES256-SHA256`) {
		opensslCipherWords[w] = true
	}
}

// parseCiphers reads an OpenSSL cipher list for TLS ≤ 1.2. Named ciphers
// that crypto/tls implements are used, in order, minus the excluded ones
// ("!NAME", "-NAME"); the other words of the language are accepted but not
// interpreted (aliases leave crypto/tls's defaults: nil). A list with an
// unknown word is refused, as OpenSSL refuses it.
func parseCiphers(s string) (suites []uint16, interpreted bool, err error) {
	excluded := map[uint16]bool{}
	sawAlias := false
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		neg := false
		switch item[0] {
		case '!', '-':
			neg = true
			item = item[1:]
		case '+':
			item = item[1:]
		}
		for _, part := range strings.Split(item, "+") {
			if id, ok := opensslCiphers[part]; ok {
				if neg {
					excluded[id] = true
				} else if !strings.Contains(item, "+") {
					suites = append(suites, id)
				} else {
					sawAlias = true
				}
				continue
			}
			if opensslCipherWords[part] || strings.HasPrefix(part, "@SECLEVEL=") {
				if !neg {
					sawAlias = true
				}
				continue
			}
			return nil, false, fmt.Errorf("unknown cipher '%s'", part)
		}
	}
	var out []uint16
	for _, id := range suites {
		if !excluded[id] {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		if !sawAlias {
			return nil, false, fmt.Errorf("no usable cipher in '%s'", s)
		}
		return nil, false, nil
	}
	return out, !sawAlias, nil
}

// tls13Suites are the names "ciphersuites" takes.
var tls13Suites = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
	"TLS_AES_128_CCM_SHA256": true, "TLS_AES_128_CCM_8_SHA256": true,
}

// goTLS13Suites are the TLS 1.3 suites crypto/tls offers: all three,
// always, in an order of its own (AES-GCM first where the CPU has AES
// instructions); it has no setting to change them and no CCM suite.
var goTLS13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// cipherSuites13Gap says what of a valid "ciphersuites" list crypto/tls
// does not honour: "" when the list names exactly the suites crypto/tls
// offers (in any order: the effect is the same set; crypto/tls's order
// decides), else the suites listed that it lacks and those it offers
// though the list leaves them out.
func cipherSuites13Gap(s string) string {
	listed := map[string]bool{}
	for _, n := range strings.Split(s, ":") {
		listed[n] = true
	}
	var lacks, extra []string
	for _, n := range strings.Split(s, ":") {
		if !slices.Contains(goTLS13Suites, n) && !slices.Contains(lacks, n) {
			lacks = append(lacks, n)
		}
	}
	for _, n := range goTLS13Suites {
		if !listed[n] {
			extra = append(extra, n)
		}
	}
	var parts []string
	if len(lacks) > 0 {
		parts = append(parts, "not in crypto/tls, never offered: "+strings.Join(lacks, ":"))
	}
	if len(extra) > 0 {
		parts = append(parts, "not listed, offered anyway: "+strings.Join(extra, ":"))
	}
	return strings.Join(parts, "; ")
}

func checkCipherSuites13(s string) error {
	for _, n := range strings.Split(s, ":") {
		if !tls13Suites[n] {
			return fmt.Errorf("unknown TLS 1.3 cipher suite '%s'", n)
		}
	}
	return nil
}
