package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestStartProfile(t *testing.T) {
	stop, err := startProfile("")
	if err != nil || stop() != nil {
		t.Fatalf("no profile asked: err %v", err)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err = startProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is gzip-compressed protobuf.
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile %s: %d bytes, not gzip", path, len(b))
	}
	if _, err := startProfile(filepath.Join(t.TempDir(), "no", "such", "dir", "p")); err == nil {
		t.Fatal("unwritable path: no error")
	}
}
