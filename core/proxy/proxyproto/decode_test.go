package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// validInputs are every captured header and every crafted input the spec
// accepts.
func validInputs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range vectorNames(t, "") {
		out[name] = readVector(t, name)
	}
	for _, name := range vectorNames(t, "crafted") {
		if strings.HasPrefix(name, "crafted/ok-") {
			out[name] = readVector(t, name)
		}
	}
	return out
}

// TestEveryPrefixNeedsMore (spec §4: a receiver may take a header that
// arrives in pieces): every proper prefix of a valid header, the empty one
// included, is ErrNeedMore, for both compat modes where the mode accepts
// the whole.
func TestEveryPrefixNeedsMore(t *testing.T) {
	for name, b := range validInputs(t) {
		for _, d := range []Decoder{{}, {Compat: CompatHAProxy26}} {
			if _, _, err := d.Decode(b); err != nil {
				continue // CompatHAProxy26 rejects two spec-valid inputs
			}
			for i := 0; i < len(b); i++ {
				if h, n, err := d.Decode(b[:i]); err != ErrNeedMore {
					t.Errorf("%s compat %d: prefix of %d/%d bytes: %s, %d, %v; want ErrNeedMore", name, d.Compat, i, len(b), h, n, err)
				}
			}
		}
	}
}

// TestByteAtATime feeds each valid header one byte per "read" into a buffer
// as an engine's OnData would, followed by payload in the same reads, and
// checks the header completes exactly at its last byte.
func TestByteAtATime(t *testing.T) {
	for name, b := range validInputs(t) {
		want, wantN, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		stream := append(append([]byte(nil), b...), "PAYLOAD"...)
		var buf []byte
		done := false
		for i, c := range stream {
			buf = append(buf, c)
			h, n, err := Decode(buf)
			if err == ErrNeedMore {
				continue
			}
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", name, i+1, err)
			}
			if n != wantN || len(buf) != wantN || !equalHeader(h, want) {
				t.Fatalf("%s: completed after %d bytes using %d as %s; want %d bytes, %s", name, len(buf), n, h, wantN, want)
			}
			done = true
			break
		}
		if !done {
			t.Fatalf("%s: never completed", name)
		}
	}
}

// TestRejectEarly: a bad input is refused at the first byte that rules out
// every valid header, not when the line or length is complete. The table
// gives that byte count for the crafted inputs (spec §4: abort quickly).
func TestRejectEarly(t *testing.T) {
	tests := []struct {
		name   string
		compat Compat
		at     int // shortest prefix that is rejected; 0 = never (needs EOF)
		kind   Kind
	}{
		{"bad-http", CompatSpec, 1, KindNotProxy},         // 'G'
		{"bad-v1-lowercase", CompatSpec, 1, KindNotProxy}, // 'p'
		{"bad-v1-double-space", CompatSpec, 7, KindUnhandledProtocol},
		{"bad-v1-udp4", CompatSpec, 8, KindUnhandledProtocol}, // "PROXY U" may still be UNKNOWN
		{"bad-v1-family-mix", CompatSpec, 15, KindInvalid},    // "2001": no IPv4 octet has 4 digits
		{"bad-v1-bad-ipv4", CompatSpec, 14, KindInvalid},      // "256"
		{"bad-v1-bad-ipv4", CompatHAProxy26, 0, 0},            // accepted: wraps to 0.0.2.10
		{"bad-v1-leading-zero", CompatSpec, 21, KindInvalid},  // "192.0.2.01"
		{"bad-v1-leading-zero", CompatHAProxy26, 0, 0},
		{"bad-v1-port-65536", CompatSpec, 41, KindInvalid}, // fifth digit
		{"bad-v1-port-65536", CompatHAProxy26, 0, 0},
		{"bad-v1-missing-port", CompatSpec, 42, KindInvalid}, // CR where a space was due
		{"bad-v1-lf-only", CompatSpec, 46, KindInvalid},      // the LF itself
		{"bad-v1-no-crlf", CompatSpec, 46, KindInvalid},      // space after the last port
		{"bad-v2-version-1", CompatSpec, 13, KindNotProxy},
		{"bad-v2-command-2", CompatSpec, 13, KindInvalid},
		{"bad-v2-family-4", CompatSpec, 14, KindInvalid},
		{"bad-v2-len-short", CompatSpec, 16, KindInvalid},    // the length field
		{"bad-v2-tlv-overflow", CompatSpec, 31, KindInvalid}, // the TLV's 3-byte header
		{"bad-v2-crc32c-wrong", CompatSpec, 35, KindInvalid}, // needs the whole header
		{"bad-v2-truncated", CompatSpec, 0, 0},
		{"bad-empty", CompatSpec, 0, 0},
		{"ok-v1-unknown-107", CompatHAProxy26, 14, KindUnhandledProtocol},
		{"ok-v2-unspec-proxy", CompatHAProxy26, 14, KindInvalid},
	}
	for _, tc := range tests {
		b := readVector(t, "crafted/"+tc.name)
		d := Decoder{Compat: tc.compat}
		at, kind := 0, Kind(0)
		for i := 0; i <= len(b); i++ {
			_, _, err := d.Decode(b[:i])
			var pe *Error
			if errors.As(err, &pe) {
				at, kind = i, pe.Kind
				break
			}
			if err != nil && err != ErrNeedMore {
				t.Fatalf("%s: untyped error %v", tc.name, err)
			}
		}
		if at != tc.at || kind != tc.kind {
			t.Errorf("%s compat %d: rejected at %d bytes as %v, want %d bytes as %v", tc.name, tc.compat, at, kind, tc.at, tc.kind)
		}
	}
}

// TestV1LineLimit: spec §2.1, no CRLF within 107 bytes is invalid, and the
// decoder never looks past byte 107.
func TestV1LineLimit(t *testing.T) {
	line := []byte("PROXY UNKNOWN " + strings.Repeat("x", 200))
	_, _, err := Decode(line[:MaxV1Len-1])
	if err != ErrNeedMore {
		t.Fatalf("106 bytes: %v, want ErrNeedMore", err)
	}
	var pe *Error
	_, _, err = Decode(line)
	if !errors.As(err, &pe) || pe.Kind != KindInvalid || pe.Offset != MaxV1Len {
		t.Fatalf("200+ bytes: %v, want invalid at byte 107", err)
	}
	// A CRLF at bytes 108-109 is beyond the limit even though it is there.
	long := append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("y"), MaxV1Len-len("PROXY UNKNOWN ")-1)...)
	long = append(long, "\r\n"...) // CR is byte 107, LF byte 108
	if _, _, err := Decode(long); !errors.As(err, &pe) {
		t.Fatalf("CRLF past 107: %v, want an error", err)
	}
	// Exactly 107 with CRLF is fine (the spec's worst case).
	ok := append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("y"), MaxV1Len-len("PROXY UNKNOWN ")-2)...)
	ok = append(ok, "\r\n"...)
	if _, n, err := Decode(append(ok, "tail"...)); err != nil || n != MaxV1Len {
		t.Fatalf("107-byte line: %d, %v", n, err)
	}
}

// TestV2LengthLimit: a length above the decoder's limit is rejected as soon
// as the length field arrives, and a length that is merely claimed costs no
// allocation while the decoder waits.
func TestV2LengthLimit(t *testing.T) {
	hdr := append(append([]byte(nil), v2Signature[:]...), 0x21, 0x11, 0xFF, 0xFF)
	d := Decoder{MaxV2Length: 4096}
	var pe *Error
	if _, _, err := d.Decode(hdr); !errors.As(err, &pe) || pe.Offset != 14 {
		t.Fatalf("length 65535 with limit 4096: %v, want invalid at byte 14", err)
	}
	if _, _, err := Decode(hdr); err != ErrNeedMore {
		t.Fatalf("length 65535, default limit: %v, want ErrNeedMore", err)
	}
	withAddr := append(hdr, make([]byte, 12)...)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Decode(withAddr); err != ErrNeedMore {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("waiting for a claimed 64 KiB header allocated %v times", allocs)
	}
}

// TestV2TLVStructure covers TLV faults beyond the crafted files.
func TestV2TLVStructure(t *testing.T) {
	base := readVector(t, "crafted/ok-v2-tcp4")
	build := func(tlvs []byte) []byte {
		b := append(append([]byte(nil), base...), tlvs...)
		binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-16))
		return b
	}
	tests := []struct {
		name string
		tlvs []byte
		ok   bool
	}{
		{"zero-length TLV", []byte{0x05, 0, 0}, true},
		{"custom and experimental", []byte{0xE0, 0, 1, 'x', 0xF5, 0, 0}, true},
		{"two trailing bytes", []byte{0x04, 0}, false},
		{"one trailing byte", []byte{0x04}, false},
		{"CRC32C too short", []byte{0x03, 0, 2, 0, 0}, false},
		{"UNIQUE_ID over 128", append([]byte{0x05, 0, 129}, make([]byte, 129)...), false},
		{"UNIQUE_ID of 128", append([]byte{0x05, 0, 128}, make([]byte, 128)...), true},
	}
	for _, tc := range tests {
		b := build(tc.tlvs)
		h, n, err := Decode(b)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %s, %v; want ok=%v", tc.name, h, err, tc.ok)
			continue
		}
		if tc.ok && n != len(b) {
			t.Errorf("%s: used %d of %d", tc.name, n, len(b))
		}
	}
	// Two CRC32C TLVs are refused even if both would match.
	two := Header{Version: 2, Command: CmdLocal, TLVs: []TLV{{TypeCRC32C, make([]byte, 4)}, {TypeCRC32C, make([]byte, 4)}}}
	if _, err := two.AppendV2(nil); err == nil {
		t.Error("encoder wrote two CRC32C TLVs")
	}
}

// TestCRC32C: the checksum is checked when present (spec §2.2.3), over
// the whole header with the field zeroed; any flipped bit is caught.
func TestCRC32C(t *testing.T) {
	for _, name := range []string{"v2-tcp4-crc32c", "v2-tcp6-tls", "v2-check-local-crc32c", "crafted/ok-v2-tcp4-tlvs"} {
		b := readVector(t, name)
		if _, _, err := Decode(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := 12; i < len(b); i++ {
			if i == 14 || i == 15 || i == 12 || i == 13 {
				continue // structural bytes fail for other reasons
			}
			c := append([]byte(nil), b...)
			c[i] ^= 0x01
			var pe *Error
			h, _, err := Decode(c)
			if _, hasCRC := h.TLV(TypeCRC32C); err == nil && !hasCRC {
				continue // the flip turned the CRC32C TLV into another type
			}
			if !errors.As(err, &pe) || pe.Kind != KindInvalid {
				t.Errorf("%s: bit flip at byte %d: %v, want invalid", name, i, err)
			}
		}
	}
}

// TestDecodeDoesNotAlias: the Header owns its TLV values, so the engine
// may reuse its read buffer once Decode returns.
func TestDecodeDoesNotAlias(t *testing.T) {
	b := readVector(t, "v2-tcp4-tls-clientcert")
	h, _, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := h.Authority()
	for i := range b {
		b[i] = 0
	}
	if got, _ := h.Authority(); got != want || want != "vectors.test" {
		t.Fatalf("authority %q after clearing the input, want %q", got, "vectors.test")
	}
}

func TestErrorsAs(t *testing.T) {
	_, _, err := Decode([]byte("GET / HTTP/1.0\r\n"))
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != KindNotProxy || pe.Offset != 0 {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), "not a PROXY header") {
		t.Errorf("message %q", err)
	}
	if errors.Is(err, ErrNeedMore) {
		t.Error("an invalid header must not be ErrNeedMore")
	}
	if e := EOFError(nil, true); e.Kind != KindTimeout {
		t.Errorf("EOFError(nil, timeout) = %v", e)
	}
	if e := EOFError([]byte("PROX"), false); e.Kind != KindTruncated || e.Version != 1 {
		t.Errorf("EOFError(PROX) = %v", e)
	}
}

// TestDecodeAllocs: v1 and TLV-less v2 decode without allocating.
func TestDecodeAllocs(t *testing.T) {
	for _, name := range []string{"v1-tcp4", "v1-tcp6-db8", "v1-tcp6-v4mapped", "v2-tcp4", "v2-tcp6", "v1-unix-unknown"} {
		b := readVector(t, name)
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := Decode(b); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per decode", name, allocs)
		}
	}
}
