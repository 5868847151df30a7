package msgrtest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeAuthReply: any front decodes or fails without panicking, and a
// decoded reply only holds bytes that were in the front.
func FuzzDecodeAuthReply(f *testing.F) {
	le := binary.LittleEndian
	good := le.AppendUint32(nil, 2)    // protocol
	good = le.AppendUint32(good, 0)    // result
	good = le.AppendUint64(good, 4242) // global_id
	good = le.AppendUint32(good, 3)    // result_bl
	good = append(good, 1, 2, 3)       //
	good = le.AppendUint32(good, 2)    // msg
	good = append(good, 'o', 'k')      //
	f.Add(good)
	f.Add(good[:20])
	f.Add(append(good[:16:16], 0xff, 0xff, 0xff, 0xff)) // result_bl claims 4 GiB
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeAuthReply(b)
		if err != nil {
			return
		}
		if len(b) < 20 || len(r.ResultBL)+20 > len(b) || len(r.Msg)+len(r.ResultBL)+20 > len(b) {
			t.Fatalf("decoded %d+%d bytes from a %d-byte front", len(r.ResultBL), len(r.Msg), len(b))
		}
		if !bytes.Equal(r.ResultBL, b[20:20+len(r.ResultBL)]) || r.GlobalID != le.Uint64(b[8:]) {
			t.Fatalf("decoded %+v from %x", r, b)
		}
	})
}

// FuzzDecodeMonGetVersionReply: the fields decoded are the front's bytes.
func FuzzDecodeMonGetVersionReply(f *testing.F) {
	le := binary.LittleEndian
	b := le.AppendUint64(nil, 1)
	b = le.AppendUint64(b, 7)
	f.Add(b)
	f.Add(le.AppendUint64(b, 3))
	f.Add(b[:15])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeMonGetVersionReply(b)
		if (err == nil) != (len(b) >= 16) {
			t.Fatalf("%d bytes: err %v", len(b), err)
		}
		if err != nil {
			return
		}
		enc := le.AppendUint64(le.AppendUint64(nil, r.Handle), r.Version)
		if len(b) >= 24 {
			enc = le.AppendUint64(enc, r.Oldest)
		}
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("decoded %+v from %x", r, b)
		}
	})
}
