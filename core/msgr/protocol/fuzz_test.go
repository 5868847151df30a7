package protocol

import (
	"bytes"
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
		before := len(r.bytes())
		r.write(t, in)
		w.settle()
		// Delivered: in order, each once, and nothing the input did not
		// carry (a message costs its tag, header and footer besides its
		// payload, so the bytes consumed never exceed the bytes given).
		rs.mu.Lock()
		seqs, payload := rs.seqs, rs.payload
		rs.mu.Unlock()
		for i, seq := range seqs {
			if seq == 0 || i > 0 && seq <= seqs[i-1] {
				t.Fatalf("delivered seqs %v", seqs)
			}
		}
		if min := len(seqs)*(1+wire.HeaderLen+wire.FooterSize(false)) + payload; min > len(in) {
			t.Fatalf("%d messages with %d payload bytes from %d input bytes", len(seqs), payload, len(in))
		}
		if opened {
			checkReplies(t, r.bytes()[before:], in)
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

// checkReplies reads what an opened server sent back after the handshake:
// only ACKs and KEEPALIVE2_ACKs (the recorder does not answer), then
// possibly the close; at most one ACK per MSG tag and one KEEPALIVE2_ACK
// per KEEPALIVE2 tag the input could have carried (each needs its tag
// byte), so the server never answers one request twice.
func checkReplies(t *testing.T, out, in []byte) {
	t.Helper()
	acks, kas := 0, 0
	for len(out) >= 9 {
		switch wire.Tag(out[0]) {
		case wire.TagAck:
			acks++
		case wire.TagKeepalive2Ack:
			kas++
		default:
			t.Fatalf("server sent tag %d after the handshake", out[0])
		}
		out = out[9:]
	}
	if len(out) != 0 {
		t.Fatalf("server sent a partial reply %x", out)
	}
	if msgs := bytes.Count(in, []byte{byte(wire.TagMsg)}); acks > msgs {
		t.Fatalf("%d ACKs for at most %d messages", acks, msgs)
	}
	if k := bytes.Count(in, []byte{byte(wire.TagKeepalive2)}); kas > k {
		t.Fatalf("%d KEEPALIVE2_ACKs for at most %d KEEPALIVE2s", kas, k)
	}
}
