package osdop

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// request builds a decoded request for oid in pool 1 with the given ops
// (code, extent offset and length, payload length).
func request(oid string, ops ...[4]uint64) Request {
	q := Request{OID: []byte(oid), PG: [pgSize]byte{1, 1}}
	for _, o := range ops {
		var b [opSize]byte
		binary.LittleEndian.PutUint16(b[:], uint16(o[0]))
		binary.LittleEndian.PutUint64(b[6:], o[1])
		binary.LittleEndian.PutUint64(b[14:], o[2])
		binary.LittleEndian.PutUint32(b[opSize-4:], uint32(o[3]))
		q.ops = append(q.ops, b[:]...)
	}
	return q
}

func apply(t *testing.T, s *Store, q Request, data []byte) Outcome {
	t.Helper()
	in, err := q.SplitData(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.Apply(&q, in)
}

// rados bench's metadata round trip: WRITEFULL 24 bytes, READ them back
// (length 24, as the bencher asks), DELETE, READ again: -ENOENT.
func TestStoreMetadataRoundTrip(t *testing.T) {
	var s Store
	meta := bytes.Repeat([]byte{7}, 24)
	if oc := apply(t, &s, request("benchmark_last_metadata", [4]uint64{uint64(OpWriteFull), 0, 24, 24}), meta); oc.Result != 0 {
		t.Fatalf("writefull: %d", oc.Result)
	}
	oc := apply(t, &s, request("benchmark_last_metadata", [4]uint64{uint64(OpRead), 0, 24, 0}), nil)
	if oc.Result != 0 || !bytes.Equal(oc.Out[0], meta) {
		t.Fatalf("read: %d %x", oc.Result, oc.Out[0])
	}
	q := request("benchmark_last_metadata", [4]uint64{uint64(OpRead), 0, 24, 0})
	front := AppendReply(nil, &q, &oc)
	if got := binary.LittleEndian.Uint32(front[4+len(q.OID)+pgSize+8+4+12+4+4+opSize-4:]); got != 24 {
		t.Errorf("reply payload_len %d, want 24", got)
	}
	apply(t, &s, request("benchmark_last_metadata", [4]uint64{uint64(OpDelete), 0, 0, 0}), nil)
	if oc := apply(t, &s, request("benchmark_last_metadata", [4]uint64{uint64(OpRead), 0, 0, 0}), nil); oc.Result != -ENOENT {
		t.Fatalf("read after delete: %d, want -ENOENT", oc.Result)
	}
}

func TestStoreBounds(t *testing.T) {
	s := Store{MaxObjects: 2, MaxObjectBytes: 8}
	wf := func(oid string, n int) Outcome {
		return apply(t, &s, request(oid, [4]uint64{uint64(OpWriteFull), 0, uint64(n), uint64(n)}), make([]byte, n))
	}
	read := func(oid string, off, n uint64) Outcome {
		return apply(t, &s, request(oid, [4]uint64{uint64(OpRead), off, n, 0}), nil)
	}
	for _, tc := range []struct {
		name string
		oc   Outcome
		want int32
	}{
		{"first object", wf("a", 8), 0},
		{"second object", wf("b", 1), 0},
		{"third object: full", wf("c", 1), -ENOSPC},
		{"rewrite of a held object", wf("a", 4), 0},
		{"read of a rewritten object", read("a", 0, 0), 0},
		{"read past the end", read("a", 9, 1), 0},
		{"a bulk write is acknowledged", wf("b", 9), 0},
		{"and not stored", read("b", 0, 0), -ENOENT},
		{"its slot is free again", wf("c", 1), 0},
		{"a WRITE forgets the object", apply(t, &s, request("c", [4]uint64{uint64(OpWrite), 0, 1, 1}), []byte{1}), 0},
		{"so reading it fails", read("c", 0, 0), -ENOENT},
	} {
		if tc.oc.Result != tc.want {
			t.Errorf("%s: result %d, want %d", tc.name, tc.oc.Result, tc.want)
		}
	}
	if oc := read("a", 1, 2); len(oc.Out[0]) != 2 {
		t.Errorf("read of 2 bytes at 1 gave %d", len(oc.Out[0]))
	}
	if oc := read("a", 9, 1); len(oc.Out[0]) != 0 {
		t.Errorf("read past the end gave %d bytes", len(oc.Out[0]))
	}
}

// Like an OSD, the first failing op sets the result and its rval, and the
// ops after it do not run.
func TestStoreStopsAtFirstFailure(t *testing.T) {
	var s Store
	for _, tc := range []struct {
		name   string
		first  uint16
		result int32
	}{
		{"read of a missing object", OpRead, -ENOENT},
		{"an op it does not run", 0x1202, -EOPNOTSUPP}, // STAT
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := request("x", [4]uint64{uint64(tc.first), 0, 0, 0}, [4]uint64{uint64(OpWriteFull), 0, 1, 1})
			oc := apply(t, &s, q, []byte{1})
			if oc.Result != tc.result || oc.Rvals[0] != tc.result || oc.Rvals[1] != 0 {
				t.Errorf("result %d rvals %v, want %d [%d 0]", oc.Result, oc.Rvals, tc.result, tc.result)
			}
			if oc := apply(t, &s, request("x", [4]uint64{uint64(OpRead), 0, 0, 0}), nil); oc.Result != -ENOENT {
				t.Errorf("the WRITEFULL after the failed op ran (read: %d)", oc.Result)
			}
			// The result and rvals are where a client decodes them.
			front := AppendReply(nil, &q, &oc)
			at := 4 + len(q.OID) + pgSize + 8
			if got := int32(binary.LittleEndian.Uint32(front[at:])); got != tc.result {
				t.Errorf("encoded result %d", got)
			}
			at += 4 + 12 + 4 + 4 + 2*opSize + 4
			if got := int32(binary.LittleEndian.Uint32(front[at:])); got != tc.result {
				t.Errorf("encoded rval 0: %d", got)
			}
		})
	}
}

// 65535 reads of one held object would reply 256 MiB: the reply's out
// data stops at MaxReplyData with -EFBIG.
func TestStoreBoundsReplyData(t *testing.T) {
	s := Store{}
	apply(t, &s, request("m", [4]uint64{uint64(OpWriteFull), 0, 4096, 4096}), make([]byte, 4096))
	var ops [][4]uint64
	for range 65535 {
		ops = append(ops, [4]uint64{uint64(OpRead), 0, 0, 0})
	}
	oc := apply(t, &s, request("m", ops...), nil)
	total := 0
	for _, b := range oc.Out {
		total += len(b)
	}
	if oc.Result != -EFBIG || total > MaxReplyData {
		t.Fatalf("result %d, %d bytes of out data (max %d)", oc.Result, total, MaxReplyData)
	}
}

func TestSplitDataRefusesOverclaim(t *testing.T) {
	q := request("x", [4]uint64{uint64(OpWrite), 0, 4, 4}, [4]uint64{uint64(OpWrite), 4, 4, 4})
	if _, err := q.SplitData(make([]byte, 7), nil); err == nil {
		t.Fatal("8 bytes claimed of 7 accepted")
	}
	q = request("x", [4]uint64{uint64(OpWrite), 0, 4, 0xFFFFFFFF})
	if _, err := q.SplitData(make([]byte, 7), nil); err == nil {
		t.Fatal("2^32-1 bytes claimed of 7 accepted")
	}
}
