package cpuprof

import (
	"bytes"
	"testing"

	"github.com/google/pprof/profile"
)

// fakeProfile builds a CPU profile whose samples have the given stacks
// (leaf first) and CPU times.
func fakeProfile(t *testing.T, stacks [][]string, cpu []int64) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	funcs := map[string]*profile.Function{}
	for i, st := range stacks {
		var locs []*profile.Location
		for _, name := range st {
			f := funcs[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			locs = append(locs, l)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{cpu[i] / 10_000_000, cpu[i]}})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
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
