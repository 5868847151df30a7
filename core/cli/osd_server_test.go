package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/osdop"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// replies collects what a client messenger receives and its resets.
type replies struct {
	msgr.Dispatcher
	got   chan *msgr.Message
	reset chan struct{}
}

func (r *replies) Dispatch(m *msgr.Message)           { r.got <- m }
func (r *replies) HandleReset(*msgr.Connection)       { r.reset <- struct{}{} }
func (r *replies) HandleConnect(*msgr.Connection)     {}
func (r *replies) HandleRefused(*msgr.Connection)     { r.reset <- struct{}{} }
func (r *replies) HandleAccept(*msgr.Connection)      {}
func (r *replies) HandleRemoteReset(*msgr.Connection) {}

// osdClient is a lossy client messenger (as librados' to an OSD) on eng's
// engine, connected to the fake OSD at addr.
func osdClient(t *testing.T, eng Engine, addr string) (*msgr.Connection, *replies) {
	t.Helper()
	e, err := eng.New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := msgr.New(e, msgr.Config{Name: "client.4100", RandomNonce: true, Policy: "lossy_client"})
	if err != nil {
		t.Fatal(err)
	}
	r := &replies{got: make(chan *msgr.Message, 4), reset: make(chan struct{}, 4)}
	if err := m.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	c, err := m.ConnectTo(wire.EntityOSD, addr)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// The fake OSD announces the nonce it is given and answers librados'
// captured MOSDOp with the reply osdop encodes for it; a malformed MOSDOp
// closes only that connection.
func TestMsgrServerFakeOSD(t *testing.T) {
	front, err := os.ReadFile("../msgr/osdop/testdata/mosdop-v8-write4k.front")
	if err != nil {
		t.Fatal(err)
	}
	eng := memCLI(t)
	addr, stderr := startServer(t, eng, "--reply", "osd", "--nonce", "4242")
	c, r := osdClient(t, eng, addr)
	req := &msgr.Message{Type: osdop.TypeOp, Priority: 63, Version: 8, CompatVersion: 3, Tid: 77,
		Front: front, Data: make([]byte, 4096)}
	if err := c.SendMessage(req); err != nil {
		t.Fatal(err)
	}
	var reply *msgr.Message
	select {
	case reply = <-r.got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply; server: %s", stderr.String())
	}
	q, err := osdop.DecodeRequest(front, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := osdop.AppendReply(nil, &q, &osdop.Outcome{})
	if reply.Type != osdop.TypeOpReply || reply.Tid != 77 || reply.Version != 8 || reply.CompatVersion != 2 || reply.Priority != 127 ||
		!bytes.Equal(reply.Front, want) || len(reply.Data) != 0 {
		t.Fatalf("reply type %d tid %d v%d/%d data %d front\n%x\nwant\n%x", reply.Type, reply.Tid, reply.Version, reply.CompatVersion, len(reply.Data), reply.Front, want)
	}
	if got := c.PeerAddr().Nonce; got != 4242 {
		t.Errorf("server nonce %d, want 4242", got)
	}
	bad := &msgr.Message{Type: osdop.TypeOp, Version: 8, Tid: 78, Front: front[:100]}
	if err := c.SendMessage(bad); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.reset:
	case m := <-r.got:
		t.Fatalf("a reply (tid %d) to a malformed MOSDOp", m.Tid)
	case <-time.After(10 * time.Second):
		t.Fatal("the malformed MOSDOp's connection stays up")
	}
	if !strings.Contains(stderr.String(), "malformed MOSDOp") {
		t.Errorf("server stderr says nothing of the malformed MOSDOp: %s", stderr.String())
	}

	// Another connection is served as before, and what a WRITEFULL
	// stored comes back in a READ reply's data section (rados bench's
	// metadata round trip).
	c2, r2 := osdClient(t, eng, addr)
	meta := []byte("0123456789abcdefghijklmn")
	wf := withOps(front, op(osdop.OpWriteFull, 24, 24))
	rd := withOps(front, op(osdop.OpRead, 24, 0))
	for i, m := range []*msgr.Message{{Front: wf, Data: meta}, {Front: rd}} {
		m.Type, m.Version, m.Tid = osdop.TypeOp, 8, uint64(100+i)
		if err := c2.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		select {
		case m := <-r2.got:
			if m.Tid != uint64(100+i) || (i == 1 && !bytes.Equal(m.Data, meta)) {
				t.Fatalf("reply tid %d data %q", m.Tid, m.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply %d on the second connection; server: %s", i, stderr.String())
		}
	}
}

// op is a ceph_osd_op: code, extent length and payload length.
func op(code uint16, length uint64, payload uint32) []byte {
	b := make([]byte, 38)
	binary.LittleEndian.PutUint16(b, code)
	binary.LittleEndian.PutUint64(b[14:], length)
	binary.LittleEndian.PutUint32(b[34:], payload)
	return b
}

// withOps is the captured MOSDOp front with its two ops (at offset 168:
// the u16 count, then 38 bytes each) replaced by ops.
func withOps(front []byte, ops ...[]byte) []byte {
	b := append([]byte(nil), front[:168]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ops)))
	for _, o := range ops {
		b = append(b, o...)
	}
	return append(b, front[168+2+2*38:]...)
}
