package cli

import (
	"sync/atomic"

	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/osdop"
)

// osdServer is msgr-server --reply osd: it answers every MOSDOp as a Ceph
// OSD would, from an osdop.Store that acknowledges bulk writes without
// keeping them (the fake OSD of spec/messenger.md, for rados bench against
// an engine). Other message types are counted and dropped; a malformed
// MOSDOp marks its connection down, and so does a reply the session
// refuses (librados waits for a reply forever by default; on a new
// connection it resends the op).
type osdServer struct {
	store     osdop.Store
	replies   atomic.Uint64 // MOSDOpReplys queued
	writes    atomic.Uint64 // requests with a WRITE or WRITEFULL op
	deletes   atomic.Uint64 // requests with a DELETE op
	other     atomic.Uint64 // messages that are not MOSDOp
	dropped   atomic.Uint64 // replies the session refused (out-queue full or closed): connection marked down
	malformed atomic.Uint64
	logf      func(format string, args ...any)
}

// Decoding and encoding are a few hundred bytes of front: cheap enough for
// the engine loop, and replies then leave in the order requests came.
func (o *osdServer) CanFastDispatch(*msgr.Message) bool { return true }
func (o *osdServer) FastDispatch(m *msgr.Message)       { o.Dispatch(m) }

func (o *osdServer) Dispatch(m *msgr.Message) {
	if m.Type != osdop.TypeOp {
		o.other.Add(1)
		return
	}
	q, err := osdop.DecodeRequest(m.Front, m.Version)
	var in [][]byte
	if err == nil {
		in, err = q.SplitData(m.Data, make([][]byte, 0, q.NumOps()))
	}
	if err != nil {
		o.malformed.Add(1)
		o.logf("msgr-server: %s tid %d: %v: marking the connection down", m.Src, m.Tid, err)
		m.Conn.MarkDown()
		return
	}
	var write, del bool
	for i := range q.NumOps() {
		switch q.OpCode(i) {
		case osdop.OpWrite, osdop.OpWriteFull:
			write = true
		case osdop.OpDelete:
			del = true
		}
	}
	if write {
		o.writes.Add(1)
	}
	if del {
		o.deletes.Add(1)
	}
	oc := o.store.Apply(&q, in)
	reply := &msgr.Message{
		Type: osdop.TypeOpReply, Priority: osdop.ReplyPriority,
		Version: osdop.ReplyVersion, CompatVersion: osdop.ReplyCompatVersion,
		Tid: m.Tid, Front: osdop.AppendReply(make([]byte, 0, osdop.ReplySize(&q)), &q, &oc),
	}
	if n := dataLen(oc.Out); n > 0 {
		reply.Data = make([]byte, 0, n) // one section for every op's out data
		for _, b := range oc.Out {
			reply.Data = append(reply.Data, b...)
		}
	}
	if err := m.Conn.SendMessage(reply); err != nil {
		o.dropped.Add(1)
		o.logf("msgr-server: %s tid %d: reply refused: %v: marking the connection down", m.Src, m.Tid, err)
		m.Conn.MarkDown()
		return
	}
	o.replies.Add(1)
}

func (o *osdServer) HandleConnect(*msgr.Connection)     {}
func (o *osdServer) HandleAccept(*msgr.Connection)      {}
func (o *osdServer) HandleReset(*msgr.Connection)       {}
func (o *osdServer) HandleRemoteReset(*msgr.Connection) {}
func (o *osdServer) HandleRefused(*msgr.Connection)     {}

func dataLen(out [][]byte) int {
	n := 0
	for _, b := range out {
		n += len(b)
	}
	return n
}
