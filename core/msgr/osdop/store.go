package osdop

import (
	"sync"
)

// Errno values a reply carries, negated (Linux's, as Ceph's).
const (
	ENOENT     int32 = 2
	EFBIG      int32 = 27
	ENOSPC     int32 = 28
	EOPNOTSUPP int32 = 95
)

// MaxReplyData bounds the out data of one reply: 65535 READs of one held
// object would otherwise make a 256 MiB reply from a 2.5 MB request.
const MaxReplyData = 1 << 20

// Store is the fake OSD's memory: it acknowledges writes and deletes, and
// keeps only small objects written whole (WRITEFULL), so a client can read
// back what it uses as metadata (rados bench reads its
// benchmark_last_metadata object before cleaning up). Bulk data is
// acknowledged and discarded: nothing is stored for a WRITE, and a READ of
// an object the store does not hold gets -ENOENT. The ops run are WRITE,
// WRITEFULL, DELETE, READ and SETALLOCHINT (a hint: nothing to do); any
// other gets -EOPNOTSUPP, as Ceph answers an op it does not know, rather
// than a success that did nothing. Memory is bounded by MaxObjects objects
// of at most MaxObjectBytes and a name of at most MaxObjectName bytes; a
// WRITEFULL that would need a new object beyond MaxObjects gets -ENOSPC,
// a READ that would take a reply's out data past MaxReplyData -EFBIG.
// Safe for concurrent use.
type Store struct {
	MaxObjects     int // default 1024
	MaxObjectBytes int // default 4096; a larger WRITEFULL is not stored

	mu   sync.Mutex
	objs map[objKey][]byte
}

type objKey struct {
	pool uint64 // pg_t's pool
	oid  string
}

func (s *Store) limits() (objects, bytes int) {
	objects, bytes = s.MaxObjects, s.MaxObjectBytes
	if objects <= 0 {
		objects = 1024
	}
	if bytes <= 0 {
		bytes = 4096
	}
	return objects, bytes
}

// Apply runs q's ops in order against the store with in, each op's
// in-data (Request.SplitData). Like an OSD it stops at the first op that
// fails: the result is that op's error and later ops do not run. The out
// data aliases the store's copies, which are never modified in place.
func (s *Store) Apply(q *Request, in [][]byte) Outcome {
	maxObjs, maxBytes := s.limits()
	key := objKey{pool: poolOf(q.PG), oid: string(q.OID)}
	oc := Outcome{Rvals: make([]int32, q.NumOps()), Out: make([][]byte, q.NumOps())}
	outBytes := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objs == nil {
		s.objs = make(map[objKey][]byte)
	}
	for i := range q.NumOps() {
		var rv int32
		switch q.OpCode(i) {
		case OpWriteFull:
			_, had := s.objs[key]
			switch {
			case len(in[i]) > maxBytes:
				delete(s.objs, key) // what we held is no longer the object
			case !had && len(s.objs) >= maxObjs:
				rv = -ENOSPC
			default:
				s.objs[key] = append([]byte(nil), in[i]...)
			}
		case OpWrite:
			delete(s.objs, key) // not stored: a later read must not see stale bytes
		case OpDelete:
			delete(s.objs, key)
		case OpRead:
			obj, ok := s.objs[key]
			if !ok {
				rv = -ENOENT
				break
			}
			off, n := q.OpExtent(i)
			if off > uint64(len(obj)) {
				off = uint64(len(obj))
			}
			end := uint64(len(obj))
			if n != 0 && n < end-off {
				end = off + n
			}
			if outBytes += int(end - off); outBytes > MaxReplyData {
				rv = -EFBIG
				break
			}
			oc.Out[i] = obj[off:end]
		case OpSetAllocHint:
		default:
			rv = -EOPNOTSUPP
		}
		oc.Rvals[i] = rv
		if rv < 0 {
			oc.Result = rv
			break
		}
	}
	return oc
}

func poolOf(pg [pgSize]byte) uint64 {
	var p uint64
	for i := 8; i >= 1; i-- {
		p = p<<8 | uint64(pg[i])
	}
	return p
}
