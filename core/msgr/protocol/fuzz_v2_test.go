package protocol

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// FuzzServerInputV2 is FuzzServerInput for an msgr2 acceptor: arbitrary
// bytes from the first byte, or after a session opened (a proto2 client):
// no panic, delivered seqs strictly increasing, every throttle returned
// once the connection is gone, and a fresh session still opens.
func FuzzServerInputV2(f *testing.F) {
	msg := func(seq uint64, size int) []byte {
		return wire2.AppendMessage(nil, wire2.Message{Header: wire2.MsgHeader2{Seq: seq, Tid: seq, Type: 0x7E01},
			Front: []byte("f"), Data: make([]byte, size)})
	}
	f.Add(false, wire2.AppendBanner(nil, wire2.Banner{Supported: wire2.SupportedFeatures}))
	f.Add(true, msg(1, 10))
	f.Add(true, append(msg(1, 10), msg(1, 10)...))
	f.Add(true, append(msg(2, 5000), wire2.AppendControl(nil, wire2.TagKeepalive2, wire2.AppendKeepalive(nil, wire.Timespec{Sec: 1}))...))
	f.Add(true, msg(1, 70000)[:3000])
	f.Fuzz(func(t *testing.T, opened bool, in []byte) {
		w := newWorld(t, memengine.Options{})
		srv, rs := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) {
			c.MaxMessageBytes = 1 << 20
			c.DefaultPolicy.ThrottleBytes = 1 << 20
			c.Logf = nil
		})
		addr := w.bindV2(srv)
		if opened {
			q := w.dialP2(addr, wire.EntityOSD)
			q.write(t, in)
			w.settle()
			q.c.Close()
		} else {
			r := w.dialRaw(addr)
			r.write(t, in)
			w.settle()
			r.c.Close()
		}
		w.settle()
		rs.mu.Lock()
		seqs := rs.seqs
		rs.mu.Unlock()
		for i, seq := range seqs {
			if seq == 0 || i > 0 && seq <= seqs[i-1] {
				t.Fatalf("delivered seqs %v", seqs)
			}
		}
		db, dm := srv.DispatchThrottles()
		_, pb := srv.PolicyThrottles(wire.EntityClient)
		if db.Current() != 0 || dm.Current() != 0 || pb.Current() != 0 {
			t.Fatalf("throttles held after the close: %d %d %d", db.Current(), dm.Current(), pb.Current())
		}
		w.dialP2(addr, wire.EntityOSD)
	})
}
