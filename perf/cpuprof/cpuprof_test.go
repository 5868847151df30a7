package cpuprof

import (
	"bytes"
	"testing"

	"github.com/netmodels/netmodels/perf/cpuprof/cpuproftest"
)

// fakeProfile builds a CPU profile (10 ms period) whose samples have the
// given stacks (leaf first) and CPU times.
func fakeProfile(t *testing.T, stacks [][]string, cpu []int64) []byte {
	t.Helper()
	b, err := cpuproftest.Profile(10_000_000, stacks, cpu)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRead(t *testing.T) {
	b := fakeProfile(t, [][]string{
		{"crypto/internal/fips140/bigmod.(*Nat).montgomeryMul", "crypto/internal/fips140/rsa.signPSS", "crypto/rsa.SignPSS", "crypto/tls.(*serverHandshakeStateTLS13).sendServerCertificate"},
		{"crypto/internal/fips140/edwards25519/field.feMul", "crypto/ecdh.x25519", "crypto/tls.(*serverHandshakeStateTLS13).processClientHello"},
		{"crypto/internal/fips140/sha256.block", "crypto/tls.(*Conn).readRecord"},
		{"syscall.Syscall6", "internal/poll.(*FD).Write"},
		{"runtime.gcBgMarkWorker"},
	}, []int64{60e7, 20e7, 10e7, 5e7, 5e7})
	got, err := Read(bytes.NewReader(b), RSASign, ECDSASign, KeyExchange, TLSOther)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != 100e7 || got.Samples != 100 {
		t.Fatalf("total %d ns in %d samples, want 1e9 in 100", got.Total, got.Samples)
	}
	for class, want := range map[string]float64{"rsa_sign": 60, "key_exchange": 20, "tls_other": 10, "ecdsa_sign": 0, Other: 10} {
		if s := got.Share(class); s != want {
			t.Errorf("%s: %.1f %%, want %.1f", class, s, want)
		}
	}
	// The order of the classes decides: crypto/ claims everything first.
	got, err = Read(bytes.NewReader(b), TLSOther, RSASign)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Share("tls_other"); s != 90 {
		t.Errorf("crypto/ first: %.1f %%, want 90", s)
	}
	if _, err := Read(bytes.NewReader([]byte("not a profile"))); err == nil {
		t.Error("garbage: no error")
	}
}

func TestShareEmpty(t *testing.T) {
	if s := (Breakdown{}).Share("rsa_sign"); s != 0 {
		t.Fatalf("empty breakdown: %v", s)
	}
}

// FuzzRead: whatever the bytes, Read returns a breakdown or an error,
// never panics, and the classes never hold more than the total.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Read(bytes.NewReader(b), RSASign, TLSOther)
		if err != nil {
			return
		}
		var sum int64
		for _, v := range got.ByClass {
			sum += v
		}
		if sum != got.Total {
			t.Fatalf("classes hold %d, total %d", sum, got.Total)
		}
	})
}
