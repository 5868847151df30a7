package osdop

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// The request and reply fronts of one rados bench write (4 KiB, two ops:
// SETALLOCHINT and WRITE), captured on lo between rados and ceph-osd
// 16.2.15 (the request's header: version 8, compat 3, priority 63; the
// reply's: version 8, compat 2, priority 127, the request's tid).
func captured(t testing.TB) (req, reply []byte) {
	t.Helper()
	req, err := os.ReadFile("testdata/mosdop-v8-write4k.front")
	if err != nil {
		t.Fatal(err)
	}
	reply, err = os.ReadFile("testdata/mosdopreply-v8-write4k.front")
	if err != nil {
		t.Fatal(err)
	}
	return req, reply
}

func TestDecodeCapturedRequest(t *testing.T) {
	req, _ := captured(t)
	q, err := DecodeRequest(req, OpVersion)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(q.OID), "benchmark_data_vm_22991_object0"; got != want {
		t.Errorf("oid %q, want %q", got, want)
	}
	if q.Epoch != 8 || q.Flags != 0x400024 || q.RetryAttempt != 0 {
		t.Errorf("epoch %d flags %#x retry %d, want 8 0x400024 0", q.Epoch, q.Flags, q.RetryAttempt)
	}
	if q.NumOps() != 2 || q.OpCode(0) != 0x2223 || q.OpCode(1) != OpWrite {
		t.Errorf("ops %d: %#x %#x, want SETALLOCHINT (0x2223) and WRITE", q.NumOps(), q.OpCode(0), q.OpCode(1))
	}
}

// Our reply to the captured request is the OSD's, byte for byte, but for
// the object versions a store assigns (we store nothing: they are zero).
func TestReplyMatchesOSD(t *testing.T) {
	req, osd := captured(t)
	q, err := DecodeRequest(req, OpVersion)
	if err != nil {
		t.Fatal(err)
	}
	got := AppendReply(nil, &q, &Outcome{})
	if len(got) != ReplySize(&q) || len(got) != len(osd) {
		t.Fatalf("reply of %d bytes (ReplySize %d), the OSD's has %d", len(got), ReplySize(&q), len(osd))
	}
	want := bytes.Clone(osd)
	zero := func(off, n int) { clear(want[off : off+n]) }
	head := 4 + len(q.OID) + pgSize + 8 + 4
	zero(head, 12) // bad_replay_version
	tail := len(want) - traceSize - 1 - 8 - 12
	zero(tail, 12+8) // replay_version, user_version
	if !bytes.Equal(got, want) {
		t.Errorf("reply\n got %x\nwant %x", got, want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	req, _ := captured(t)
	for _, tc := range []struct {
		name    string
		front   []byte
		version uint16
	}{
		{"older version", req, 7},
		{"empty", nil, OpVersion},
		{"cut in the ops", req[:200], OpVersion},
		{"cut before features", req[:len(req)-1], OpVersion},
		{"pg_t version", patch(req, 6, 2), OpVersion},
		{"spg_t too short", patch(req, 2, 3), OpVersion},
		{"oid claims 4 GiB", patch(req, 133, 0xff, 0xff, 0xff, 0xff), OpVersion},
		{"oid over the name limit", patch(req, 133, 0x01, 0x08, 0, 0), OpVersion},
		{"65535 ops claimed", patch(req, 168, 0xff, 0xff), OpVersion},
		{"2^32-1 snaps claimed", patch(req, 262, 0xff, 0xff, 0xff, 0xff), OpVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRequest(tc.front, tc.version); !errors.Is(err, ErrMalformed) {
				t.Errorf("err %v, want ErrMalformed", err)
			}
		})
	}
}

// Every prefix of a valid front is refused, never misread.
func TestDecodeEveryCut(t *testing.T) {
	req, _ := captured(t)
	for n := range len(req) {
		if _, err := DecodeRequest(req[:n], OpVersion); !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut at %d: err %v", n, err)
		}
	}
}

func patch(b []byte, off int, v ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

func FuzzDecodeRequest(f *testing.F) {
	req, _ := captured(f)
	f.Add(req)
	f.Fuzz(func(t *testing.T, front []byte) {
		q, err := DecodeRequest(front, OpVersion)
		if err != nil {
			return
		}
		var st Store
		if in, err := q.SplitData(front, nil); err == nil {
			st.Apply(&q, in)
		}
		if len(q.OID) > MaxObjectName {
			t.Fatalf("oid of %d bytes accepted", len(q.OID))
		}
		if r := AppendReply(nil, &q, &Outcome{}); len(r) != ReplySize(&q) {
			t.Fatalf("reply of %d bytes, ReplySize %d", len(r), ReplySize(&q))
		}
	})
}

func BenchmarkReply(b *testing.B) {
	req, _ := captured(b)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		q, err := DecodeRequest(req, OpVersion)
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendReply(buf[:0], &q, &Outcome{})
	}
}
