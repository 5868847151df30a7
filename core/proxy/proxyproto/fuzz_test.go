package proxyproto

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode starts from every captured and crafted vector. Properties:
// no panic; a header uses at most the input and at most the protocol's
// maximum; the same bytes cut short ask for more; a decoded header
// re-encodes in its version and decodes back to itself; and the HAProxy
// compat decoder never consumes a different length.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("testdata", "crafted")} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Decode(b)
		_, nc, errc := Decoder{Compat: CompatHAProxy26}.Decode(b)
		if errc == nil && err == nil && nc != n {
			t.Fatalf("spec used %d bytes, compat %d", n, nc)
		}
		// Rejection is final: once a prefix is refused, no longer input
		// may be accepted; and before a header completes, every prefix
		// asks for more.
		for i := 0; i < len(b) && i < 300; i++ {
			_, _, perr := Decode(b[:i])
			if perr != ErrNeedMore && perr != nil && err == nil {
				t.Fatalf("prefix of %d bytes refused (%v) but %d bytes accepted", i, perr, len(b))
			}
			if err == nil && i < n && perr != ErrNeedMore {
				t.Fatalf("prefix of %d bytes of a %d-byte header: %v, want ErrNeedMore", i, n, perr)
			}
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		_, _, _ = h.SSL() // must not panic on any TLV content
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		switch h.Version {
		case 1:
			if n > MaxV1Len {
				t.Fatalf("v1 header of %d bytes", n)
			}
		case 2:
			if n > v2FixedLen+MaxV2Length {
				t.Fatalf("v2 header of %d bytes", n)
			}
		default:
			t.Fatalf("version %d", h.Version)
		}
		if _, _, err := Decode(b[:n-1]); err != ErrNeedMore {
			t.Fatalf("header minus its last byte: %v, want ErrNeedMore", err)
		}
		again, n2, err := Decode(b[:n])
		if err != nil || n2 != n || !equalHeader(again, h) {
			t.Fatalf("header alone decodes to %s, %d, %v; want %s", again, n2, err, h)
		}
		var enc []byte
		if h.Version == 1 {
			enc, err = h.AppendV1(nil)
		} else {
			enc, err = h.AppendV2(nil)
		}
		if err != nil {
			t.Fatalf("re-encode %s: %v", h, err)
		}
		back, _, err := Decode(enc)
		if err != nil || !equalHeader(back, h) {
			t.Fatalf("re-encoded %s as %q, decodes to %s, %v", h, enc, back, err)
		}
	})
}
