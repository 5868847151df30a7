package proxyproto

import (
	"testing"
)

// Numbers for the perf report come from the harness; these benchmarks are
// for spotting regressions in the codec itself (allocations, per-byte cost).

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"v1-tcp4", "v1-tcp6-db8", "v2-tcp4", "v2-tcp6", "v2-tcp4-crc32c", "v2-tcp6-tls"} {
		in := readVector(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeByteAtATime is the worst case for an incremental decoder:
// one call per arriving byte.
func BenchmarkDecodeByteAtATime(b *testing.B) {
	in := readVector(b, "v1-tcp6-db8")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 1; i <= len(in); i++ {
			if _, _, err := Decode(in[:i]); err != nil && err != ErrNeedMore {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, name := range []string{"v1-tcp4", "v1-tcp6-db8", "v2-tcp4", "v2-tcp6", "v2-tcp4-crc32c", "v2-tcp6-tls"} {
		h, _, err := Decode(readVector(b, name))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 512)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var out []byte
				if h.Version == 1 {
					out, err = h.AppendV1(buf[:0])
				} else {
					out, err = h.AppendV2(buf[:0])
				}
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(out)))
			}
		})
	}
}
