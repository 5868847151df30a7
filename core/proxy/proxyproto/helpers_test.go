package proxyproto

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readVector reads testdata/<name>.bin (name may include "crafted/").
func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorNames lists the .bin files under testdata/dir, without ".bin".
func vectorNames(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", dir, "*.bin"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no vectors in testdata/%s: %v", dir, err)
	}
	var out []string
	for _, p := range m {
		rel, _ := filepath.Rel("testdata", p)
		out = append(out, strings.TrimSuffix(rel, ".bin"))
	}
	sort.Strings(out)
	return out
}

// decodeAll judges b as the whole input of a connection that then ends:
// a header, or an error (EOFError when b is only a prefix).
func decodeAll(d Decoder, b []byte, timedOut bool) (Header, int, error) {
	h, n, err := d.Decode(b)
	if err == ErrNeedMore {
		return h, n, EOFError(b, timedOut)
	}
	return h, n, err
}

func equalHeader(a, b Header) bool {
	if a.Version != b.Version || a.Command != b.Command || a.Transport != b.Transport ||
		a.Source != b.Source || a.Destination != b.Destination ||
		a.SourcePath != b.SourcePath || a.DestinationPath != b.DestinationPath ||
		len(a.TLVs) != len(b.TLVs) {
		return false
	}
	for i := range a.TLVs {
		if a.TLVs[i].Type != b.TLVs[i].Type || !bytes.Equal(a.TLVs[i].Value, b.TLVs[i].Value) {
			return false
		}
	}
	return true
}
