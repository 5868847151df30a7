package pp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's byte-identical copy of shared/vectors/proxy.
const vectors = "../../../core/proxy/proxyproto/testdata"

func vec(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, name))
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return b
}

func TestCapturedVectors(t *testing.T) {
	for _, tc := range []struct{ file, src, dst string }{
		{"v1-tcp4.bin", "127.0.0.2:40001", "127.0.0.1:8001"},
		{"v1-tcp6.bin", "[::1]:40002", "[::1]:8002"},
		{"v1-tcp6-v4mapped.bin", "127.0.0.2:40005", "127.0.0.1:8005"},
		{"v2-tcp4.bin", "127.0.0.2:40003", "127.0.0.1:8003"},
		{"v2-tcp6.bin", "[::1]:40004", "[::1]:8004"},
		{"v2-tcp6-db8.bin", "[2001:db8::2]:40008", "[2001:db8::1]:8008"},
		{"v2-tcp4-crc32c.bin", "127.0.0.2:40012", "127.0.0.1:8012"},
		{"v2-tcp4-tlv-notls.bin", "127.0.0.2:40009", "127.0.0.1:8009"},
		{"v2-tcp4-tls-clientcert.bin", "127.0.0.2:40010", "127.0.0.1:8010"},
		{"v2-tcp6-tls.bin", "[::1]:40011", "[::1]:8011"},
		{"v2-unix-local.bin", "", ""},
		{"v2-check-local-crc32c.bin", "", ""},
		{"v1-unix-unknown.bin", "", ""},
	} {
		b := vec(t, tc.file)
		h, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if h.Len != len(b) {
			t.Errorf("%s: used %d of %d bytes", tc.file, h.Len, len(b))
		}
		if tc.src == "" {
			if !h.Local {
				t.Errorf("%s: not LOCAL/UNKNOWN", tc.file)
			}
			continue
		}
		if h.Src.String() != tc.src || h.Dst.String() != tc.dst {
			t.Errorf("%s: %v -> %v, want %s -> %s", tc.file, h.Src, h.Dst, tc.src, tc.dst)
		}
		for i := 0; i < len(b); i++ {
			if _, err := Decode(b[:i]); err != ErrShort {
				t.Errorf("%s: prefix %d: %v", tc.file, i, err)
				break
			}
		}
	}
}

// Every crafted bad-* input is invalid per the spec; every ok-* is valid.
func TestCraftedVectors(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join(vectors, "crafted"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b := vec(t, filepath.Join("crafted", e.Name()))
		_, err := Decode(b)
		switch {
		case strings.HasPrefix(e.Name(), "ok-"):
			if err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		case e.Name() == "bad-empty.bin" || e.Name() == "bad-v2-truncated.bin":
			if err != ErrShort {
				t.Errorf("%s: %v, want ErrShort", e.Name(), err)
			}
		default:
			if err == nil || err == ErrShort {
				t.Errorf("%s: accepted (%v)", e.Name(), err)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, n := range []string{"v1-tcp4.bin", "v2-tcp4-tls-clientcert.bin", "v2-tcp6-tls.bin", "crafted/bad-v2-tlv-overflow.bin"} {
		if b, err := os.ReadFile(filepath.Join(vectors, n)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Decode(b)
		if err == nil && (h.Len <= 0 || h.Len > len(b)) {
			t.Fatalf("Len %d of %d", h.Len, len(b))
		}
	})
}
