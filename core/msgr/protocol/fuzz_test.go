package protocol

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// FuzzServerInput feeds arbitrary bytes to an accepting socket, after a
// valid handshake (opened) or from the first byte: the server must never
// panic, must not deliver anything that failed its checks, and must keep
// serving a fresh connection.
func FuzzServerInput(f *testing.F) {
	f.Add(false, []byte(wire.Banner))
	f.Add(true, rawMsg(1))
	f.Add(true, append(rawMsg(1), rawMsg(1)...))
	f.Add(true, wire.AppendKeepalive2(wire.AppendAck(nil, 9), wire.Timespec{Sec: 1}))
	f.Add(true, []byte{byte(wire.TagClose)})
	f.Add(true, wire.AppendHeader([]byte{7}, wire.Header{Seq: 1, DataLen: 1 << 31}, true))
	f.Fuzz(func(t *testing.T, opened bool, in []byte) {
		w := newWorld(t, memengine.Options{})
		srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
			c.MaxMessageBytes = 1 << 20
			c.Logf = nil
		})
		addr := w.bind(srv)
		var r *raw
		if opened {
			r, _ = openRaw(t, w, addr, 5, 1, 0, 0)
		} else {
			r = w.dialRaw(addr)
		}
		r.write(t, in)
		w.settle()
		for _, m := range rs.msgs {
			if m.Seq == 0 || m.Type == 0 && len(m.Data) > 1<<20 {
				t.Fatalf("delivered %+v", m.Seq)
			}
		}
		_, rep := openRaw(t, w, addr, 6, 1, 0, 0)
		if rep.Tag != wire.TagSeq {
			t.Fatalf("fresh connection got %v", rep.Tag)
		}
	})
}

// FuzzClientInput feeds arbitrary server bytes to a connecting session:
// it must never panic, whatever the banner, address or reply.
func FuzzClientInput(f *testing.F) {
	me := wire.NewEntityAddr(mustAP("127.0.0.1:20000"), 0)
	hello := wire.AppendAddr(wire.AppendAddr(wire.AppendBanner(nil), me), clientAddr(0))
	f.Add(hello)
	f.Add(wire.AppendSeq(wire.AppendConnectReply(append([]byte(nil), hello...), wire.ConnectReply{Tag: wire.TagSeq, ConnectSeq: 1, Features: wire.FeaturesAll, ProtocolVersion: 24}), 0))
	f.Add(wire.AppendConnectReply(append([]byte(nil), hello...), wire.ConnectReply{Tag: wire.TagRetrySession, ConnectSeq: 9}))
	f.Add(wire.AppendConnectReply(append([]byte(nil), hello...), wire.ConnectReply{Tag: 99, ConnectSeq: 1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		w := newWorld(t, memengine.Options{})
		addr, peers := rawListen(t, w)
		cli, _ := w.endpoint("client.1", "lossless_client", 2, func(c *Config) { c.Logf = nil })
		s := w.connect(cli, wire.EntityOSD, addr, false)
		_ = s.SendMessage(msg(1, 10))
		w.settle()
		if len(*peers) == 0 {
			t.Fatal("no connection")
		}
		(*peers)[0].write(t, in)
		w.settle()
		_ = s.State()
	})
}
