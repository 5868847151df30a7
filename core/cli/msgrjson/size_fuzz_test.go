package msgrjson

import (
	"encoding/json"
	"testing"
)

// FuzzParseSize: a parsed --size is a valid range that prints back to
// itself and survives the JSON summary's encoding.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4096", "0-65536", "5-5", "7-3", "-1", "1-", "-", "99999999999999999999", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := ParseSize(s)
		if err != nil {
			return
		}
		if z.Min < 0 || z.Min > z.Max {
			t.Fatalf("%q -> %+v", s, z)
		}
		if again, err := ParseSize(z.String()); err != nil || again != z {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, z, z.String(), again, err)
		}
		b, err := json.Marshal(z)
		if err != nil {
			t.Fatal(err)
		}
		var back Size
		if err := json.Unmarshal(b, &back); err != nil || back != z {
			t.Fatalf("%+v -> %s -> %+v, %v", z, b, back, err)
		}
	})
}
