// Package osdop decodes a Ceph MOSDOp (message type 42, header version 8,
// as Pacific clients send it) and encodes the MOSDOpReply (type 43,
// version 8) a Ceph OSD answers it with, and Store runs the few ops a
// benchmark client needs: enough for msgr-server --reply osd to stand in
// for an OSD in front of librados (rados bench) without keeping bulk data.
//
// The layouts are Ceph's MOSDOp::encode_payload and
// MOSDOpReply::encode_payload for peers with SERVER_LUMINOUS (every Pacific
// client); testdata holds a request and its reply captured from a real
// ceph-osd 16.2.15. Integers are little-endian; a "versioned" struct starts
// with struct_v, compat_v (u8 each) and its length (u32).
package osdop

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message types and header versions (src/include/msgr.h, MOSDOp.h,
// MOSDOpReply.h).
const (
	TypeOp             uint16 = 42
	TypeOpReply        uint16 = 43
	OpVersion          uint16 = 8 // the only MOSDOp version decoded
	ReplyVersion       uint16 = 8
	ReplyCompatVersion uint16 = 2
	ReplyPriority      uint16 = 127 // CEPH_MSG_PRIO_DEFAULT, as an OSD sends
)

// Op codes (src/include/rados.h: mode | type | number).
const (
	OpWrite        uint16 = 0x2201
	OpWriteFull    uint16 = 0x2202
	OpDelete       uint16 = 0x2205
	OpRead         uint16 = 0x1201
	OpSetAllocHint uint16 = 0x2223
)

// Flags (CEPH_OSD_FLAG_*) a reply rewrites.
const (
	FlagAck     uint32 = 0x1
	FlagOnNVRAM uint32 = 0x2
	FlagOnDisk  uint32 = 0x4
)

// MaxObjectName bounds an object name (Ceph's osd_max_object_name_len
// default), so a claimed length never allocates more.
const MaxObjectName = 2048

// opSize is sizeof(struct ceph_osd_op): op u16, flags u32, a 28-byte
// union, payload_len u32.
const opSize = 38

// pgSize is pg_t's encoding: version u8, pool u64, seed u32, preferred i32.
const pgSize = 17

// traceSize is blkin_trace_info: trace, span and parent span ids (u64 each),
// encoded whether or not Ceph was built with blkin.
const traceSize = 24

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("osdop: malformed MOSDOp")

// Request is what a reply needs from an MOSDOp front. OID and the ops
// alias the decoded front.
type Request struct {
	PG           [pgSize]byte // the pg_t, as encoded (the reply's pgid)
	Epoch        uint32       // the client's osdmap epoch
	Flags        uint32
	OID          []byte
	RetryAttempt int32
	ops          []byte // the ceph_osd_op structs, opSize bytes each
}

// NumOps is the number of ops in the request.
func (q *Request) NumOps() int { return len(q.ops) / opSize }

// OpCode is op i's code (OpWrite, OpDelete, ...).
func (q *Request) OpCode(i int) uint16 { return binary.LittleEndian.Uint16(q.op(i)) }

// OpExtent is op i's extent (offset, length) for READ and WRITE: the
// union's first two u64s.
func (q *Request) OpExtent(i int) (off, length uint64) {
	o := q.op(i)
	return binary.LittleEndian.Uint64(o[6:]), binary.LittleEndian.Uint64(o[14:])
}

// OpPayloadLen is how many bytes of the message's data section op i takes.
func (q *Request) OpPayloadLen(i int) uint32 { return binary.LittleEndian.Uint32(q.op(i)[opSize-4:]) }

func (q *Request) op(i int) []byte { return q.ops[i*opSize : (i+1)*opSize] }

// SplitData cuts a message's data section into each op's in-data, in op
// order, as Ceph's split_osd_op_vector_in_data: the payload lengths must
// fit in data.
func (q *Request) SplitData(data []byte, in [][]byte) ([][]byte, error) {
	off := 0
	for i := range q.NumOps() {
		n := q.OpPayloadLen(i)
		if uint64(n) > uint64(len(data)-off) { // compared unconverted: int may be 32 bits
			return nil, fmt.Errorf("%w: op %d claims %d bytes of data, %d left", ErrMalformed, i, n, len(data)-off)
		}
		in = append(in, data[off:off+int(n)])
		off += int(n)
	}
	return in, nil
}

// reader is a bounds-checked cursor over a front.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = fmt.Errorf("%w: %s: need %d bytes at offset %d, have %d", ErrMalformed, what, n, r.off, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u16(what string) uint16 {
	if p := r.take(2, what); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// versioned reads a versioned struct's header and returns its body.
func (r *reader) versioned(what string) []byte {
	r.take(2, what) // struct_v, compat_v: every version seen so far is accepted
	n := r.u32(what)
	if r.err != nil {
		return nil
	}
	return r.take(int(min(n, 1<<30)), what)
}

// DecodeRequest decodes an MOSDOp version 8 front. It never allocates:
// the object name and ops alias front.
func DecodeRequest(front []byte, version uint16) (Request, error) {
	var q Request
	if version != OpVersion {
		return q, fmt.Errorf("%w: header version %d, want %d (a Pacific client)", ErrMalformed, version, OpVersion)
	}
	r := &reader{b: front}
	spg := r.versioned("spg_t") // pg_t, then the shard
	if r.err == nil && (len(spg) < pgSize || spg[0] != 1) {
		return q, fmt.Errorf("%w: spg_t of %d bytes, pg_t version %d", ErrMalformed, len(spg), firstByte(spg))
	}
	copy(q.PG[:], spg)
	r.take(4, "hash")
	q.Epoch = r.u32("osdmap_epoch")
	q.Flags = r.u32("flags")
	r.versioned("reqid")
	r.take(traceSize, "trace")
	r.take(4, "client_inc")
	r.take(8, "mtime")
	r.versioned("object_locator")
	n := r.u32("oid length")
	if r.err == nil && n > MaxObjectName {
		return q, fmt.Errorf("%w: object name of %d bytes (max %d)", ErrMalformed, n, MaxObjectName)
	}
	q.OID = r.take(int(n), "oid")
	q.ops = r.take(int(r.u16("op count"))*opSize, "ops")
	r.take(16, "snapid and snap_seq")
	nsnaps := r.u32("snap count")
	r.take(int(min(nsnaps, 1<<27))*8, "snaps")
	q.RetryAttempt = int32(r.u32("retry_attempt"))
	r.take(8, "features")
	if r.err != nil {
		return Request{}, r.err
	}
	return q, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// Outcome is what a reply reports besides the request's echo: the result
// and, per op, its rval and out data (nil: zero and none).
type Outcome struct {
	Result int32
	Rvals  []int32
	Out    [][]byte
}

// ReplySize is the size of the reply front AppendReply writes for q.
func ReplySize(q *Request) int {
	return 4 + len(q.OID) + pgSize + 8 + 4 + 12 + 4 + 4 + q.NumOps()*(opSize+4) + 4 + 12 + 8 + 1 + traceSize
}

// AppendReply appends the front of the MOSDOpReply answering q, as Ceph's
// MOSDOpReply(req, result, epoch, ACK|ONDISK, false) encodes it: the
// request's object name, pg, epoch, retry_attempt (the Objecter drops a
// reply to an earlier attempt) and ops, each op's payload_len set to its
// out data's length (and a READ's extent length to the bytes read, as an
// OSD does), the request's flags with ACK|ONDISK, zero object versions
// (nothing is versioned here), no redirect. The reply's data section is
// the ops' out data, concatenated in op order.
func AppendReply(dst []byte, q *Request, oc *Outcome) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, uint32(len(q.OID)))
	dst = append(dst, q.OID...)
	dst = append(dst, q.PG[:]...)
	dst = le.AppendUint64(dst, uint64(q.Flags&^(FlagAck|FlagOnNVRAM|FlagOnDisk)|FlagAck|FlagOnDisk))
	dst = le.AppendUint32(dst, uint32(oc.Result))
	dst = append(dst, make([]byte, 12)...)         // bad_replay_version (eversion_t)
	dst = le.AppendUint32(dst, q.Epoch)            // osdmap_epoch
	dst = le.AppendUint32(dst, uint32(q.NumOps())) // num_ops
	for i := range q.NumOps() {
		var n int
		if i < len(oc.Out) {
			n = len(oc.Out[i])
		}
		at := len(dst)
		dst = append(dst, q.op(i)[:opSize-4]...)
		if q.OpCode(i) == OpRead {
			le.PutUint64(dst[at+14:], uint64(n)) // extent.length: what was read
		}
		dst = le.AppendUint32(dst, uint32(n)) // payload_len
	}
	dst = le.AppendUint32(dst, uint32(q.RetryAttempt))
	for i := range q.NumOps() {
		var rv int32
		if i < len(oc.Rvals) {
			rv = oc.Rvals[i]
		}
		dst = le.AppendUint32(dst, uint32(rv))
	}
	dst = append(dst, make([]byte, 12+8+1+traceSize)...) // replay_version, user_version, do_redirect, trace
	return dst
}
