package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// answers runs the window protocol over the given input lines and returns
// its answers, one per line, without the prefix.
func answers(t *testing.T, w *window, in string) []string {
	t.Helper()
	var out bytes.Buffer
	w.out, w.prefix = &out, "eng: "
	w.serve(strings.NewReader(in))
	var got []string
	for i, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		pre := fmt.Sprintf("eng: WINDOW %d ", i+1)
		if !strings.HasPrefix(l, pre) {
			t.Fatalf("answer %q: want prefix %q", l, pre)
		}
		got = append(got, strings.TrimPrefix(l, pre))
	}
	return got
}

func TestWindowProtocol(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "w.pprof")
	for _, tc := range []struct {
		name, in string
		want     []string // answer prefixes, in order
	}{
		{"counters only", "open\nclose\n", []string{"open", "close heap_alloc_bytes="}},
		{"with a profile", "open " + prof + "\nclose\n", []string{"open", "close heap_alloc_bytes="}},
		{"with a rate", "open " + prof + " 500\nclose\n", []string{"open", "close "}},
		{"twice", "open\nclose\nopen\nclose\n", []string{"open", "close ", "open", "close "}},
		{"close first", "close\n", []string{"error no window is open"}},
		{"open twice", "open\nopen\nclose\n", []string{"open", "error a window is already open", "close "}},
		{"bad rate", "open " + prof + " 0\nopen " + prof + " x\n", []string{"error HZ \"0\"", "error HZ \"x\""}},
		{"unwritable", "open " + filepath.Join(dir, "no", "such") + "\n", []string{"error open "}},
		{"unknown", "start\nclose now\n", []string{"error unknown command \"start\"", "error unknown command \"close now\""}},
		{"blank lines and no final newline", "\n  \nopen\nclose", []string{"open", "close "}},
		{"too long", strings.Repeat("x", maxWindowLine+10) + "\nopen\nclose\n", []string{"error command longer", "open", "close "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := answers(t, &window{}, tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("answers %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("answer %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}

func TestWindowCounts(t *testing.T) {
	w := &window{out: &bytes.Buffer{}}
	w.command([]string{"open"})
	sink := make([][]byte, 0, 1000)
	for range 1000 {
		sink = append(sink, make([]byte, 1000))
	}
	_ = sink
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go wg.Done()
	}
	wg.Wait()
	var out bytes.Buffer
	w.out = &out
	w.command([]string{"close"})
	f := strings.Fields(out.String())
	if len(f) != 7 || f[1] != "2" || f[2] != "close" {
		t.Fatalf("answer %q", out.String())
	}
	var bytesN, objs, gs int
	for _, kv := range f[3:] {
		k, v, _ := strings.Cut(kv, "=")
		n := 0
		for _, c := range v {
			n = n*10 + int(c-'0')
		}
		switch k {
		case "heap_alloc_bytes":
			bytesN = n
		case "heap_alloc_objects":
			objs = n
		case "goroutines_created":
			gs = n
		}
	}
	// 1000 heap slices of 1000 bytes (they escape through sink's backing
	// array). The runtime counts a span's objects when a P takes the span
	// and gives back the unused ones when it returns it, so a reading is
	// off by at most one span per size class and P: 10 % here.
	if bytesN < 900_000 || objs < 900 {
		t.Fatalf("window counted %d bytes in %d objects, want >= 900000 in >= 900", bytesN, objs)
	}
	if gs < 10 {
		t.Fatalf("window counted %d goroutines created, want >= 10", gs)
	}
}

func TestWindowProfileWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pprof")
	// The command returned with the window open: stop writes the profile.
	w := &window{}
	got := answers(t, w, "open "+path+"\n")
	w.stop()
	if len(got) != 1 || got[0] != "open" {
		t.Fatalf("answers %q", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile: %d bytes, not gzip", len(b))
	}
}

func TestStartWindowsModes(t *testing.T) {
	if stop, err := startWindows("", strings.NewReader("open\n"), &bytes.Buffer{}, ""); err != nil {
		t.Fatal(err)
	} else {
		stop()
	}
	if _, err := startWindows("tcp", nil, nil, ""); err == nil {
		t.Fatal("unknown mode: no error")
	}
}

// FuzzWindow: any input gets one answer per non-blank line (or per
// over-long line), never a panic. Profiles are not started (no files where
// the input says).
func FuzzWindow(f *testing.F) {
	old := windowProfile
	windowProfile = func(string, int) (*os.File, error) { return nil, nil }
	f.Cleanup(func() { windowProfile = old })
	f.Add("open\nclose\n")
	f.Add("open /x 100\nclose\nclose\n")
	f.Add("\x00\xff open\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		w := &window{out: &out}
		w.serve(strings.NewReader(in))
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if l != "" && !strings.HasPrefix(l, "WINDOW ") {
				t.Fatalf("answer %q", l)
			}
		}
	})
}
