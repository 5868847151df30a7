// Package cpuprof classifies the samples of a Go CPU profile (pprof
// format, as runtime/pprof writes it). Two ways:
//
//   - Read (inclusive, by priority): a sample belongs to the first class, in
//     the order given, one of whose prefixes starts the function name of
//     any frame of its stack. The TLS scenarios use it for the share of an
//     engine proxy's CPU spent under the RSA signature (crypto/rsa and the
//     bignum code under it), however deep.
//   - Parse + Where (self time, where.go): each sample goes to the class of
//     the code that was running, for the report's "where the time goes"
//     (kernel, scheduler/netpoll, GC and allocation, syscall entry,
//     protocol, engine, crypto, other), and Split spreads a CPU figure over
//     those classes with the kernel's share from /proc.
package cpuprof

import (
	"fmt"
	"io"
	"strings"

	"github.com/google/pprof/profile"
)

// Class is a named set of function-name prefixes ("crypto/rsa.").
type Class struct {
	Name     string
	Prefixes []string
}

// Breakdown is a profile's CPU by class.
type Breakdown struct {
	// Total is the CPU time the profile holds, in nanoseconds.
	Total int64
	// Samples is how many samples that is (at 100 Hz, 10 ms each).
	Samples int64
	// ByClass is each class's CPU time in nanoseconds; what no class
	// claims is under Other.
	ByClass map[string]int64
}

// Other names the samples no class claims.
const Other = "other"

// Share is a class's part of the total, in percent (0 when empty).
func (b Breakdown) Share(class string) float64 {
	if b.Total <= 0 {
		return 0
	}
	return 100 * float64(b.ByClass[class]) / float64(b.Total)
}

// RSASign is the RSA private-key operation as Go 1.20+ builds it:
// crypto/rsa over the FIPS module's rsa and bigmod packages (math/big for
// older toolchains and key generation).
var RSASign = Class{Name: "rsa_sign", Prefixes: []string{
	"crypto/rsa.", "crypto/internal/fips140/rsa.", "crypto/internal/fips140/bigmod.", "math/big.",
}}

// ECDSASign is the ECDSA signature (P-256: nistec).
var ECDSASign = Class{Name: "ecdsa_sign", Prefixes: []string{
	"crypto/ecdsa.", "crypto/internal/fips140/ecdsa.", "crypto/internal/fips140/nistec.",
}}

// KeyExchange is the ephemeral key exchange (X25519 and the NIST curves'
// ECDH, ML-KEM).
var KeyExchange = Class{Name: "key_exchange", Prefixes: []string{
	"crypto/ecdh.", "crypto/internal/fips140/ecdh.", "crypto/internal/fips140/edwards25519.",
	"crypto/internal/fips140/mlkem.", "crypto/mlkem.",
}}

// TLSOther is the rest of crypto/tls and crypto/* (hashes, HKDF, the
// record layer's AEAD, certificate handling).
var TLSOther = Class{Name: "tls_other", Prefixes: []string{"crypto/"}}

// Read classifies the profile r holds. The sample value used is the CPU
// time (type "cpu", unit nanoseconds), as runtime/pprof writes it.
func Read(r io.Reader, classes ...Class) (Breakdown, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return Breakdown{}, fmt.Errorf("cpuprof: %w", err)
	}
	vi, ci, err := sampleIndexes(p)
	if err != nil {
		return Breakdown{}, err
	}
	b := Breakdown{ByClass: map[string]int64{}}
	for _, s := range p.Sample {
		v := s.Value[vi]
		b.Total += v
		if ci >= 0 {
			b.Samples += s.Value[ci]
		}
		b.ByClass[classify(s, classes)] += v
	}
	return b, nil
}

func classify(s *profile.Sample, classes []Class) string {
	for _, c := range classes {
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if ln.Function == nil {
					continue
				}
				for _, pre := range c.Prefixes {
					if strings.HasPrefix(ln.Function.Name, pre) {
						return c.Name
					}
				}
			}
		}
	}
	return Other
}

// sampleIndexes finds a CPU profile's value indexes: the CPU time (type
// "cpu", unit nanoseconds, as runtime/pprof writes it) and the sample
// count (-1 when absent).
func sampleIndexes(p *profile.Profile) (cpu, count int, err error) {
	cpu, count = -1, -1
	for i, st := range p.SampleType {
		switch {
		case st.Type == "cpu" && st.Unit == "nanoseconds":
			cpu = i
		case st.Type == "samples":
			count = i
		}
	}
	if cpu < 0 {
		return 0, 0, fmt.Errorf("cpuprof: not a CPU profile (no cpu/nanoseconds sample type)")
	}
	return cpu, count, nil
}
