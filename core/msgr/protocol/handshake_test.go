package protocol

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

func TestHandshakeSEQAndMessages(t *testing.T) { // §2, §7.3, §11
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1234, nil)
	rs.echo = true
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 99, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	for i := 1; i <= 5; i++ {
		if err := s.SendMessage(msg(uint64(i), i*100)); err != nil {
			t.Fatal(err)
		}
	}
	w.settle()
	if !s.IsOpen() {
		t.Fatalf("client state %s", s.State())
	}
	checkInOrder(t, rs.tids(), 5)
	checkInOrder(t, rc.tids(), 5)
	for i, m := range rc.msgs {
		if m.Type != 0x7E02 || len(m.Data) != (i+1)*100 || m.Data[3] != byte(i+1)+3 {
			t.Fatalf("reply %d: type %#x len %d", i, m.Type, len(m.Data))
		}
		if m.Seq != uint64(i+1) || m.Src.Type != wire.EntityOSD {
			t.Fatalf("reply %d seq %d src %v", i, m.Seq, m.Src)
		}
	}
	cs, out, in := s.SeqState()
	if cs != 1 || out != 5 || in != 5 {
		t.Fatalf("client cs=%d out=%d in=%d", cs, out, in)
	}
	// ACKs flowed both ways: nothing is left unacked.
	if n, _ := s.Queued(); n != 0 {
		t.Fatalf("client still holds %d unacked", n)
	}
	if s.Features() != wire.FeaturesAll || s.Lossy() {
		t.Fatalf("features %#x lossy %v", s.Features(), s.Lossy())
	}
	if ev := rc.eventList(); len(ev) != 1 || ev[0] != "connect" {
		t.Fatalf("client events %v", ev)
	}
	if ev := rs.eventList(); len(ev) != 1 || ev[0] != "accept" {
		t.Fatalf("server events %v", ev)
	}
}

func TestHandshakeREADYWithoutReconnectSeq(t *testing.T) { // §7.3: no RECONNECT_SEQ → READY
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	rs.echo = true
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, func(c *Config) {
		c.DefaultPolicy.FeaturesSupported = wire.FeaturesAll &^ (wire.FeatureReconnectSeq | wire.FeatureMsgAuth)
	})
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	checkInOrder(t, rc.tids(), 1)
	if s.Features()&wire.FeatureMsgAuth != 0 {
		t.Fatal("MSG_AUTH must not be negotiated")
	}
}

func TestKeepalive2RoundTrip(t *testing.T) { // §7.4
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	s.SendKeepalive()
	w.settle()
	if s.LastKeepaliveAck().IsZero() {
		t.Fatal("no KEEPALIVE2_ACK")
	}
	if srv.C.KeepalivesReceived.Load() != 1 {
		t.Fatal(srv.C.KeepalivesReceived.Load())
	}
}

func TestRawClientSeesCephBytes(t *testing.T) { // §5, §6.2: server side bytes
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 77, nil)
	addr := w.bind(srv)
	r := w.dialRaw(addr)
	hello := r.bytes()
	if len(hello) != wire.BannerLen+2*wire.AddrLen || string(hello[:9]) != wire.Banner {
		t.Fatalf("server hello %d bytes", len(hello))
	}
	pa, _, _ := wire.DecodeAddr(hello[9:])
	if !pa.Equal(addr) || pa.Nonce != 77 {
		t.Fatalf("announced %v, bound %v", pa, addr)
	}
	r.take(len(hello))
	cm := clientConnect(1, 0)
	b := wire.AppendAddr(wire.AppendBanner(nil), clientAddr(5))
	r.write(t, wire.AppendConnect(b, cm))
	w.settle()
	rep := rawReply(t, r)
	if rep.Tag != wire.TagSeq || rep.ConnectSeq != 1 || rep.Features != wire.FeaturesAll || rep.Flags != 0 ||
		rep.ProtocolVersion != 24 {
		t.Fatalf("reply %+v", rep)
	}
	if v := r.take(8); v == nil {
		t.Fatal("no in_seq after SEQ")
	}
	// The server waits for our in_seq before it is OPENED.
	if len(rs.eventList()) != 0 {
		t.Fatal("opened before the SEQ exchange")
	}
	r.write(t, wire.AppendSeq(nil, 0))
	// Message seq 1, a duplicate seq 1, seq 2, then KEEPALIVE2: the
	// duplicate is dropped and reading goes on (§16 #21 without the stall).
	front := []byte("hello")
	var fr []byte
	for _, seq := range []uint64{1, 1, 2} {
		fr = wire.AppendMessage(fr, wire.Header{Seq: seq, Tid: seq, Type: 0x7E01, Priority: 127, Src: wire.EntityName{Type: wire.EntityClient, Num: 5}}, front, nil, nil, true, wire.CRCAll)
	}
	fr = wire.AppendKeepalive2(fr, wire.Timespec{Sec: 7, Nsec: 9})
	r.write(t, fr)
	w.settle()
	if got := rs.tids(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("delivered %v", got)
	}
	if srv.C.DuplicatesDropped.Load() != 1 {
		t.Fatal("duplicate not counted")
	}
	// Expect ACK(2) and KEEPALIVE2_ACK(7,9) in some order among the bytes.
	out := r.bytes()
	wantKA := wire.AppendKeepalive2Ack(nil, wire.Timespec{Sec: 7, Nsec: 9})
	wantAck := wire.AppendAck(nil, 2)
	if !contains(out, wantKA) || !contains(out, wantAck) {
		t.Fatalf("server sent %x", out)
	}
}

func contains(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}

func TestHandshakeIPv6(t *testing.T) { // §4 IPv6 layout end to end
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	if err := srv.Bind("[::1]:0"); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	if addr.Family != wire.FamilyInet6 {
		t.Fatalf("bound %v", addr)
	}
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	checkInOrder(t, rs.tids(), 1)
	if me := cli.Addr(); me.Family != wire.FamilyInet6 || !me.IP.IsLoopback() {
		t.Fatalf("client learned %v", me)
	}
	if p := srv.Sessions()[0].PeerAddr(); p.Nonce != 2 || !p.IP.IsLoopback() {
		t.Fatalf("server sees %v", p)
	}
}

// A peer that floods KEEPALIVE2 and does not read: the acks are bounded
// (our reader pauses once the out-queue is full, so the flood stalls in
// TCP), and once the peer reads again every KEEPALIVE2 is answered in order.
func TestKeepaliveFloodBounded(t *testing.T) {
	w := newWorld(t, memengine.Options{PipeBufferSize: 4096, Config: engine.Config{OutQueueLimit: 64 << 10,
		OutQueueHighWater: 16 << 10, OutQueueLowWater: 4 << 10}})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.WriteBatchBytes = 8 << 10 })
	addr := w.bind(srv)
	r, _ := openRaw(t, w, addr, 5, 1, 0, 0)
	r.setReading(false)
	const n = 40000
	var flood []byte
	for i := range n {
		flood = wire.AppendKeepalive2(flood, wire.Timespec{Sec: uint32(i)})
	}
	stalled := false
	for off := 0; off < len(flood); {
		end := min(off+9*1000, len(flood))
		if err := r.c.Write(flood[off:end]); err != nil {
			// Our out-queue is full: the server stopped reading. Read again.
			stalled = true
			r.setReading(true)
			w.settle()
			continue
		}
		off = end
		w.settle()
	}
	r.setReading(true)
	w.settle()
	if !stalled {
		t.Fatal("the flood never stalled: the server kept reading without bound")
	}
	if got := srv.C.KeepalivesReceived.Load(); got != n {
		t.Fatalf("received %d keepalives of %d", got, n)
	}
	out := r.bytes()
	if len(out) != n*9 {
		t.Fatalf("%d ack bytes, want %d", len(out), n*9)
	}
	for i := range n {
		ts, _, _ := wire.DecodeTimespec(out[i*9+1:])
		if out[i*9] != byte(wire.TagKeepalive2Ack) || ts.Sec != uint32(i) {
			t.Fatalf("ack %d: tag %d sec %d", i, out[i*9], ts.Sec)
		}
	}
}

// BenchmarkKeepalive2Pipelined: batches of 16 KEEPALIVE2 in one write,
// as msgr-keepalive-pipelined sends them, answered on the in-memory
// engine. The server's answers are built in a pool buffer that becomes
// the batch buffer (beginFill), so the allocations per op are the
// harness's own (the raw peer's copies), not the protocol's.
func BenchmarkKeepalive2Pipelined(b *testing.B) {
	w := newWorld(b, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateful_server", 1, nil)
	r, _ := openRaw(b, w, w.bind(srv), 5, 1, 0, 0)
	const batch = 16
	var fr []byte
	for i := range batch {
		fr = wire.AppendKeepalive2(fr, wire.Timespec{Sec: uint32(i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.write(b, fr)
		w.settle()
		r.mu.Lock()
		if len(r.in) != batch*9 {
			b.Fatalf("%d ack bytes, want %d", len(r.in), batch*9)
		}
		r.in = r.in[:0]
		r.mu.Unlock()
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "keepalives/s")
}
