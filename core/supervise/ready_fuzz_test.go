package supervise

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzReadyWriter: however a child's stdout is split into writes, the
// readiness verdict is given exactly once and is the one the whole first
// line gives; no byte is lost from the capture.
func FuzzReadyWriter(f *testing.F) {
	f.Add([]byte("READY 127.0.0.1:9 [::1]:9\n{\"x\":1}\n"), uint8(3))
	f.Add([]byte("not ready\nREADY 1\n"), uint8(1))
	f.Add([]byte("READY"), uint8(2))
	f.Add([]byte(" READY  a\tb \r\nrest"), uint8(5))
	f.Add(bytes.Repeat([]byte("x"), maxReadyLine+10), uint8(200))
	f.Fuzz(func(t *testing.T, out []byte, step uint8) {
		w := &readyWriter{word: "READY", ready: make(chan []string, 1), rest: newCapture(1 << 20)}
		k := int(step) + 1
		for i := 0; i < len(out); i += k {
			if n, err := w.Write(out[i:min(i+k, len(out))]); err != nil || n != min(k, len(out)-i) {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		first, _, complete := bytes.Cut(out, []byte("\n"))
		decided := complete || len(out) > maxReadyLine
		select {
		case got := <-w.ready:
			if !decided {
				t.Fatalf("verdict %q before the first line was complete", got)
			}
			var want []string
			if f := strings.Fields(string(first)); complete && len(f) > 0 && f[0] == "READY" {
				want = f[1:]
			}
			if (got == nil) != (want == nil) || !slices.Equal(got, want) {
				t.Fatalf("verdict %q, want %q", got, want)
			}
			// Everything but a ready line itself reaches the capture.
			rest := w.rest.String()
			if want != nil {
				if rest != string(out[len(first)+1:]) {
					t.Fatalf("capture %q after the ready line of %q", rest, out)
				}
			} else if rest != string(out) {
				t.Fatalf("capture %q, want all of %q", rest, out)
			}
		default:
			if decided {
				t.Fatalf("no verdict for %q", out)
			}
		}
		select {
		case v := <-w.ready:
			t.Fatalf("second verdict %q", v)
		default:
		}
	})
}
