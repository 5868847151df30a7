package wire

import "testing"

// FuzzParseEntityName: what parses prints back to a name that parses to
// the same value.
func FuzzParseEntityName(f *testing.F) {
	for _, s := range []string{"osd.0", "client.-1", "mon.a", "mds.9223372036854775807", "osd", ".1", "osd.1.2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseEntityName(s)
		if err != nil {
			return
		}
		again, err := ParseEntityName(n.String())
		if err != nil || again != n {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, n, n.String(), again, err)
		}
	})
}
