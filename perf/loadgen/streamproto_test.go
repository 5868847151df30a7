package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// frame is a header for n payload bytes followed by them.
func frame(n int) []byte {
	b := make([]byte, StreamHeaderSize+n)
	PutStreamHeader(b, n)
	for i := range n {
		b[StreamHeaderSize+i] = byte(i)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestStreamDecoder(t *testing.T) {
	end := frame(0)
	tooBig := make([]byte, StreamHeaderSize)
	binary.BigEndian.PutUint64(tooBig, MaxStreamFrame+1)
	tests := []struct {
		name      string
		in        []byte
		wantUsed  int
		wantDone  bool
		wantCount int64
		wantErr   error
	}{
		{"empty", nil, 0, false, 0, nil},
		{"end only", end, 8, true, 0, nil},
		{"one frame then end", cat(frame(5), end), 21, true, 13, nil},
		{"frames of several sizes", cat(frame(1), frame(100), frame(1000), end), 8 + 1 + 8 + 100 + 8 + 1000 + 8, true, 8 + 1 + 8 + 100 + 8 + 1000, nil},
		{"partial header", frame(5)[:3], 3, false, 0, nil},
		{"partial payload", frame(5)[:10], 10, false, 10, nil},
		{"bytes after end are not used", cat(frame(2), end, []byte("xyz")), 18, true, 10, nil},
		{"header too large", cat(tooBig, []byte("rest")), 8, false, 0, ErrStreamFrameTooLarge},
		{"too large after a frame", cat(frame(3), tooBig), 19, false, 11, ErrStreamFrameTooLarge},
		// The old unframed stream (0, 1, 2, ...) reads as a huge length.
		{"old unframed stream", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, 8, false, 0, ErrStreamFrameTooLarge},
		{"max frame is allowed", frame(MaxStreamFrame)[:StreamHeaderSize], 8, false, 8, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, then one byte at a time: the same outcome.
			for _, step := range []int{len(tc.in) + 1, 1, 7} {
				var d StreamDecoder
				used, done, err := 0, false, error(nil)
				for off := 0; off < len(tc.in) && !done && err == nil; {
					chunk := tc.in[off:min(off+step, len(tc.in))]
					var n int
					n, done, err = d.Feed(chunk)
					used += n
					if n < len(chunk) && !done && err == nil {
						t.Fatalf("step %d: used %d of %d without end or error", step, n, len(chunk))
					}
					off += len(chunk)
				}
				if used != tc.wantUsed || done != tc.wantDone || d.Count() != tc.wantCount || !errors.Is(err, tc.wantErr) {
					t.Fatalf("step %d: used %d done %v count %d err %v; want %d %v %d %v",
						step, used, done, d.Count(), err, tc.wantUsed, tc.wantDone, tc.wantCount, tc.wantErr)
				}
				// After the end or an error nothing more is used.
				if done || err != nil {
					if n, done2, err2 := d.Feed([]byte{1, 2, 3}); n != 0 || done2 != done || (err2 != nil) != (err != nil) {
						t.Fatalf("step %d: fed after the end/error: used %d, done %v, err %v", step, n, done2, err2)
					}
				}
			}
		})
	}
}

// FuzzStreamDecoder: any input, split anywhere, gives the same outcome as
// a reference reading of the protocol, and never uses more than it gets.
func FuzzStreamDecoder(f *testing.F) {
	f.Add(cat(frame(3), frame(0)), uint8(1))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, uint8(3))
	f.Add(cat(frame(1), frame(0), []byte("tail")), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		wantUsed, wantDone, wantCount, wantBad := referenceDecode(in)
		var d StreamDecoder
		s := int(step) + 1
		used, done, bad := 0, false, false
		for off := 0; off < len(in); off += s {
			chunk := in[off:min(off+s, len(in))]
			n, dn, err := d.Feed(chunk)
			if n < 0 || n > len(chunk) {
				t.Fatalf("used %d of %d", n, len(chunk))
			}
			used += n
			done = done || dn
			bad = bad || err != nil
			if dn || err != nil {
				break
			}
		}
		if used != wantUsed || done != wantDone || d.Count() != wantCount || bad != wantBad {
			t.Fatalf("got used %d done %v count %d bad %v; reference %d %v %d %v", used, done, d.Count(), bad, wantUsed, wantDone, wantCount, wantBad)
		}
	})
}

// referenceDecode reads the protocol from one whole buffer.
func referenceDecode(in []byte) (used int, done bool, count int64, bad bool) {
	for {
		if len(in)-used < StreamHeaderSize {
			return len(in), false, count, false // a partial header is not counted yet
		}
		l := binary.BigEndian.Uint64(in[used:])
		used += StreamHeaderSize
		if l > MaxStreamFrame {
			return used, false, count, true
		}
		if l == 0 {
			return used, true, count, false
		}
		count += StreamHeaderSize
		if rest := uint64(len(in) - used); rest < l {
			return len(in), false, count + int64(rest), false
		}
		used += int(l)
		count += int64(l)
	}
}
