package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// v2msg is message i of the v2 tests: every header field and section set,
// sizes from empty to beyond the batch, the pool and the read buffer.
func v2msg(i int) *Message {
	sizes := []int{0, 1, 100, 4000, copyBelow + 1, 70 << 10, 300 << 10}
	m := msg(uint64(i), sizes[i%len(sizes)])
	m.Priority = uint16(100 + i%3)
	m.Version, m.CompatVersion = uint16(i%5+1), 1
	m.DataOff = uint16(i)
	if i%2 == 0 {
		m.Front = []byte{byte(i), 'f'}
	}
	if i%3 == 0 {
		m.Middle = bytes.Repeat([]byte{'m'}, i)
	}
	return m
}

func sameMessage(t *testing.T, got, want *Message) {
	t.Helper()
	if got.Type != want.Type || got.Tid != want.Tid || got.Priority != want.Priority || got.Version != want.Version ||
		got.CompatVersion != want.CompatVersion || got.DataOff != want.DataOff ||
		!bytes.Equal(got.Front, want.Front) || !bytes.Equal(got.Middle, want.Middle) || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("tid %d: got type %#x prio %d v%d/%d off %d sections %d/%d/%d, want type %#x prio %d v%d/%d off %d sections %d/%d/%d",
			want.Tid, got.Type, got.Priority, got.Version, got.CompatVersion, got.DataOff, len(got.Front), len(got.Middle), len(got.Data),
			want.Type, want.Priority, want.Version, want.CompatVersion, want.DataOff, len(want.Front), len(want.Middle), len(want.Data))
	}
}

// A lossy msgr2 session, our connector to our acceptor, both roles on
// the messenger's socket: handshake, events, every header field and
// section through ceph_msg_header2 and the segments (sizes across the
// copy, pool, batch and read-buffer bounds, on a 4 KiB read buffer and
// pipe), seqs both ways, replies on the same session, keepalives, and
// the server's view of its peer. Per role, with message pooling off and
// on (Config.RecycleMessages).
func TestV2LossyEcho(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		w := newWorld(t, memengine.Options{PipeBufferSize: 4096, Config: engine.Config{ReadBufferSize: 4096}})
		srv, rs := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) { c.RecycleMessages = recycle })
		rs.echo = true
		addr := w.bindV2(srv)
		cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
		s := w.connect(cli, wire.EntityOSD, addr, true)
		const n = 40
		var want []*Message
		for i := 1; i <= n; i++ {
			m := v2msg(i)
			want = append(want, m)
			if err := s.SendMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		s.SendKeepalive()
		w.settle()
		if got := rs.eventList(); !slices.Equal(got, []string{"accept"}) {
			t.Fatalf("server events %v", got)
		}
		if got := rc.eventList(); !slices.Equal(got, []string{"connect"}) {
			t.Fatalf("client events %v", got)
		}
		// The priorities differ, so the order across them is the out-queue's:
		// compare by tid, and the seqs the server saw must be 1..n in order.
		if len(rs.msgs) != n {
			t.Fatalf("server got %d messages, want %d", len(rs.msgs), n)
		}
		for i, m := range rs.msgs {
			if m.Seq != uint64(i+1) || m.Src != (wire.EntityName{Type: wire.EntityClient, Num: 1}) || !m.Conn.Msgr2() {
				t.Fatalf("message %d: seq %d src %v", i, m.Seq, m.Src)
			}
			if !recycle {
				sameMessage(t, m, want[m.Tid-1])
			}
		}
		if rc.count() != n {
			t.Fatalf("client got %d echoes", rc.count())
		}
		for i, m := range rc.msgs {
			if m.Type != 0x7E02 || m.Seq != uint64(i+1) || m.Src != (wire.EntityName{Type: wire.EntityOSD, Num: 0}) ||
				!bytes.Equal(m.Data, want[m.Tid-1].Data) {
				t.Fatalf("echo %d: type %#x seq %d tid %d src %v", i, m.Type, m.Seq, m.Tid, m.Src)
			}
		}
		if _, out, in := s.SeqState(); out != n || in != n {
			t.Fatalf("client seqs out %d in %d", out, in)
		}
		if s.LastKeepaliveAck().IsZero() || srv.C.KeepalivesReceived.Load() != 1 {
			t.Fatalf("keepalive: ack %v, server received %d", s.LastKeepaliveAck(), srv.C.KeepalivesReceived.Load())
		}
		ss := srv.Sessions()
		if len(ss) != 1 || !ss[0].Msgr2() || !ss[0].Lossy() || ss[0].PeerType() != wire.EntityClient ||
			ss[0].PeerAddr().Nonce != 2 || ss[0].PeerAddr().IP.String() != "127.0.0.1" {
			t.Fatalf("server sessions %d: %+v", len(ss), ss[0].PeerAddr())
		}
		if !s.IsOpen() || !s.Msgr2() || s.Features()&wire2.FeatureMsgAddr2 == 0 {
			t.Fatalf("client session: open %v, features %#x", s.IsOpen(), s.Features())
		}
		if srv.C.BadInput.Load()+cli.C.BadInput.Load() != 0 || srv.C.SessionsOpened.Load() != 1 {
			t.Fatal("counters")
		}
		db, dm := srv.DispatchThrottles()
		if db.Current() != 0 || dm.Current() != 0 {
			t.Fatal("dispatch throttle leaked")
		}
	}
}

// A refusal after CLIENT_IDENT (here a feature the server's policy for
// clients requires), for a lossy and a lossless policy: the client sees
// its connect refused (a lossy session closes, a lossless one backs off
// and retries), the server opens nothing, and the client has read why
// (IDENT_MISSING_FEATURES: the refused socket lingers until the frame is
// out, where a bare Close would drop it). (That SERVER_IDENT is held
// until the decision is receive2's construction for lossy sessions and
// session2's for lossless ones: on this engine a close discards unsent
// bytes, so an early SERVER_IDENT would not show here.)
func TestV2AcceptorRequiresFeature(t *testing.T) {
	const bit = uint64(1) << 60
	for _, pols := range [][2]string{{"stateless_server", "lossy_client"}, {"stateful_server", "lossless_client"}} {
		w := newWorld(t, memengine.Options{})
		srv, rs := w.endpoint("osd.0", pols[0], 4, func(c *Config) {
			p, _ := PolicyByName(pols[0], bit)
			c.Policies = map[wire.EntityType]Policy{wire.EntityClient: p}
		})
		addr := w.bindV2(srv)
		var logs []string
		cli, rc := w.endpoint("client.1", pols[1], 5, func(c *Config) {
			c.DefaultPolicy.FeaturesSupported = wire.FeaturesAll &^ bit
			c.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
		})
		s := w.connect(cli, wire.EntityOSD, addr, true)
		w.settle()
		if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, proto2.ErrMissingFeatures.Error()) }) {
			t.Fatalf("%s: the client did not read the refusal's reason; its log: %q", pols[1], logs)
		}
		if pols[1] == "lossy_client" {
			if got := rc.eventList(); !slices.Equal(got, []string{"refused"}) || s.State() != "closed" {
				t.Fatalf("%s: client events %v, state %s", pols[1], got, s.State())
			}
		} else if s.State() != "backoff" || len(rc.eventList()) != 0 {
			t.Fatalf("%s: client events %v, state %s", pols[1], rc.eventList(), s.State())
		}
		if len(srv.Sessions()) != 0 || len(rs.eventList()) != 0 {
			t.Fatalf("%s: the server opened a session (events %v)", pols[0], rs.eventList())
		}
	}
}

// A lossy client adopts the server's choice of a lossless session, as
// Ceph's client (and msgr1's TestAdoptLossyFlag) does: its session then
// outlives a fault, resumed with SESSION_RECONNECT although it sent
// cookie 0.
func TestV2AdoptLosslessFromServer(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bindV2(srv)
	cli, rc := w.endpoint("client.1", "lossy_client", 3, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 10))
	w.settle()
	if s.Lossy() || !s.IsOpen() {
		t.Fatalf("lossy %v, state %s", s.Lossy(), s.State())
	}
	s.InjectFault()
	w.runUntil(5*time.Second, s.IsOpen)
	_ = s.SendMessage(msg(2, 10))
	w.settle()
	checkInOrder(t, rs.tids(), 2)
	if got := rc.eventList(); !slices.Equal(got, []string{"connect", "connect"}) {
		t.Fatalf("client events %v", got)
	}
	if got := rs.eventList(); !slices.Equal(got, []string{"accept", "accept"}) {
		t.Fatalf("server events %v", got)
	}
}

// A fault on a lossy v2 session closes it on both sides, as for msgr1:
// HandleReset (it had opened), the queue dropped, SendMessage refused.
// A v2 socket silent past the handshake timeout is closed; an idle one
// past the idle timeout faults.
func TestV2FaultClosesLossy(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateless_registered_server", 1, func(c *Config) { c.IdleTimeout = 60e9 })
	addr := w.bindV2(srv)
	cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	if !s.IsOpen() || len(srv.Sessions()) != 1 {
		t.Fatal("not open")
	}
	s.InjectFault()
	w.settle()
	if !slices.Equal(rc.eventList(), []string{"connect", "reset"}) || !slices.Equal(rs.eventList(), []string{"accept", "reset"}) {
		t.Fatalf("client %v, server %v", rc.eventList(), rs.eventList())
	}
	if s.State() != "closed" || len(srv.Sessions()) != 0 || len(cli.Sessions()) != 0 {
		t.Fatalf("after the fault: client %s, server sessions %d", s.State(), len(srv.Sessions()))
	}
	if err := s.SendMessage(msg(1, 1)); err != ErrSessionClosed {
		t.Fatal(err)
	}

	// A new session from the same client replaces nothing (the old one is
	// gone); a second Connect while it is open returns it.
	s2 := w.connect(cli, wire.EntityOSD, addr, true)
	w.settle()
	if again := w.connect(cli, wire.EntityOSD, addr, true); again != s2 || !s2.IsOpen() {
		t.Fatal("Connect did not return the open session")
	}
	// Idle: no traffic either way for IdleTimeout faults the server's side.
	w.advance(61e9)
	w.settle()
	if s2.State() != "closed" || len(srv.Sessions()) != 0 {
		t.Fatalf("idle: client %s, server sessions %d", s2.State(), len(srv.Sessions()))
	}

	// Handshake timeout: a peer that sends nothing after connecting.
	r := w.dialRaw(addr)
	w.advance(cli.Config().HandshakeTimeout + 1)
	w.settle()
	if !r.isClosed() {
		t.Fatal("silent v2 peer not closed after the handshake timeout")
	}
	// The acceptor announced msgr2 at once.
	if b := r.bytes(); len(b) < 8 || string(b[:8]) != "ceph v2\n" {
		t.Fatalf("banner %q", b)
	}
}

// A registered lossy server replaces a peer's earlier session when the
// same peer (address and nonce) opens a new one, reporting its reset
// first, as Ceph's msgr2 acceptor stops an existing lossy connection.
func TestV2RegisteredLossyReplaced(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateless_registered_server", 1, nil)
	addr := w.bindV2(srv)
	q1 := w.dialP2(addr, wire.EntityOSD)
	first := srv.Sessions()
	q2 := w.dialP2(addr, wire.EntityOSD)
	w.settle()
	if !slices.Equal(rs.eventList(), []string{"accept", "reset", "accept"}) {
		t.Fatalf("server events %v", rs.eventList())
	}
	if !q1.isClosed() || q2.isClosed() || first[0].State() != "closed" || len(srv.Sessions()) != 1 {
		t.Fatalf("old closed %v, new closed %v, sessions %d", q1.isClosed(), q2.isClosed(), len(srv.Sessions()))
	}
}

// The reader stops before a message body is buffered while a throttle is
// exhausted (it judges the MESSAGE on its preamble: TCP backpressure on
// the rest), and resumes the moment capacity is released; the limits
// hold over v2 as over msgr1 (TestThrottlePausesAndResumes).
func TestV2ThrottlePausesAndResumes(t *testing.T) {
	w := newWorld(t, memengine.Options{PipeBufferSize: 4096})
	const limit = 10000
	srv, rs := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) {
		c.DefaultPolicy.ThrottleBytes = limit
		c.DefaultPolicy.ThrottleMessages = 100
	})
	rs.hold = true
	addr := w.bindV2(srv)
	cli, _ := w.endpoint("client.1", "lossy_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	const n, size = 60, 3000
	for i := 1; i <= n; i++ {
		if err := s.SendMessage(msg(uint64(i), size)); err != nil {
			t.Fatal(err)
		}
	}
	w.settle()
	_, bytesT := srv.PolicyThrottles(wire.EntityClient)
	if got := rs.count(); got != limit/size {
		t.Fatalf("delivered %d before release, want %d (limit %d)", got, limit/size, limit)
	}
	if srv.C.ThrottledReads.Load() == 0 {
		t.Fatal("reader never paused")
	}
	// Paused on the next MESSAGE's preamble: nothing of its body is held.
	k := srv.Sessions()[0].sock
	if k.rs != rsThrottle || k.body != nil || k.claim != size {
		t.Fatalf("paused reader: state %d, body buffer %d bytes, claim %d", k.rs, len(k.body), k.claim)
	}
	for rs.count() < n {
		before := rs.count()
		if rs.release() == 0 {
			t.Fatalf("stalled at %d", before)
		}
		w.settle()
		if st := bytesT.Stats(); st.Peak > limit {
			t.Fatalf("held %d > limit %d", st.Peak, limit)
		}
		if rs.count() == before {
			t.Fatal("release did not resume reading")
		}
	}
	rs.release()
	checkInOrder(t, rs.tids(), n)
	if st := bytesT.Stats(); st.Current != 0 || st.Waits == 0 {
		t.Fatalf("%+v", st)
	}
	db, dm := srv.DispatchThrottles()
	if db.Current() != 0 || dm.Current() != 0 {
		t.Fatal("dispatch throttle leaked")
	}
}

// A v2 message body that stops arriving, its throttles held, faults its
// socket after BodyProgressTimeout and returns the reservations.
func TestV2BodyProgressTimeout(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	addr := w.bindV2(srv)
	q := w.dialP2(addr, wire.EntityOSD)
	frame := wire2.AppendMessage(nil, wire2.Message{Header: wire2.MsgHeader2{Seq: 1, Tid: 1, Type: 0x7E01}, Data: make([]byte, 50000)})
	q.write(t, frame[:1000])
	w.settle()
	db, _ := srv.DispatchThrottles()
	if db.Current() != 50000 {
		t.Fatalf("dispatch bytes held %d, want 50000", db.Current())
	}
	w.advance(srv.Config().BodyProgressTimeout + 1)
	w.settle()
	if !q.isClosed() || db.Current() != 0 || srv.C.BodyTimeouts.Load() != 1 {
		t.Fatalf("closed %v, held %d, body timeouts %d", q.isClosed(), db.Current(), srv.C.BodyTimeouts.Load())
	}
}

// Each malformed v2 input closes only its own connection, counted as bad
// input, returning any throttle it held, allocating nothing a claim asks
// for; a healthy v2 session on the same server keeps working throughout.
func TestV2BadInputClosesOnlyThatConnection(t *testing.T) {
	ctl := func(tag wire2.Tag, p []byte) []byte { return wire2.AppendControl(nil, tag, p) }
	pre := func(tag wire2.Tag, lens ...uint32) []byte {
		p := wire2.Preamble{Tag: tag, NumSegments: uint8(len(lens))}
		for i, n := range lens {
			p.Segments[i] = wire2.SegmentDesc{Len: n, Align: wire2.AlignDefault}
		}
		return wire2.AppendPreamble(nil, p)
	}
	good := func(seq, ack uint64) []byte {
		return wire2.AppendMessage(nil, wire2.Message{Header: wire2.MsgHeader2{Seq: seq, AckSeq: ack, Tid: 1, Type: 0x7E01},
			Front: []byte("front"), Data: []byte("data")})
	}
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x40
		return b
	}
	cases := []struct {
		name  string
		ready bool // after a session opened (a proto2 client), else on a bare connection
		send  []byte
	}{
		{"msgr1 banner", false, append([]byte(wire.Banner), make([]byte, wire.AddrLen)...)},
		{"not a banner", false, []byte("GET / HTTP/1.1\r\n\r\n")},
		{"bad preamble crc", true, flip(good(1, 0), 28)},
		{"bad data crc", true, flip(good(1, 0), -2)},
		{"unknown tag", true, pre(99, 8)},
		{"MESSAGE claiming 12 GiB", true, pre(wire2.TagMessage, wire2.MsgHeader2Len, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)},
		{"control payload over the limit", true, pre(wire2.TagKeepalive2, 1<<20)},
		{"handshake frame in READY", true, ctl(wire2.TagHello, wire2.AppendHello(nil, wire2.Hello{EntityType: wire.EntityClient}))},
		{"ack of a message never sent", true, good(1, 5)},
		{"truncated KEEPALIVE2", true, ctl(wire2.TagKeepalive2, []byte{1, 2})},
	}
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) { c.DefaultPolicy.ThrottleBytes = 1 << 20 })
	rs.echo = true
	addr := w.bindV2(srv)
	cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
	healthy := w.connect(cli, wire.EntityOSD, addr, true)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, tc := range cases {
		bad := srv.C.BadInput.Load()
		closed := func() bool { return false }
		if tc.ready {
			q := w.dialP2(addr, wire.EntityOSD)
			q.write(t, tc.send)
			closed = q.isClosed
		} else {
			r := w.dialRaw(addr)
			r.write(t, tc.send)
			closed = r.isClosed
		}
		w.settle()
		if !closed() {
			t.Errorf("%s: connection not closed", tc.name)
		}
		if srv.C.BadInput.Load() != bad+1 {
			t.Errorf("%s: bad input not counted", tc.name)
		}
		if err := healthy.SendMessage(msg(uint64(i+1), 100)); err != nil {
			t.Fatal(err)
		}
		w.settle()
		if rc.count() != i+1 {
			t.Fatalf("%s: the healthy connection stopped working", tc.name)
		}
		db, dm := srv.DispatchThrottles()
		_, pb := srv.PolicyThrottles(wire.EntityClient)
		if db.Current() != 0 || dm.Current() != 0 || pb.Current() != 0 {
			t.Fatalf("%s: throttles held after the close", tc.name)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Fatalf("allocated %d bytes: a claimed length was allocated", d)
	}
	if len(srv.Sessions()) != 1 {
		t.Fatalf("%d server sessions left", len(srv.Sessions()))
	}
}

// Frames and banners larger than the engine's smallest read buffer are
// assembled by the socket (a 4 KiB read buffer here), in the handshake
// (a banner with a long payload, which Ceph skips) and in READY (a
// KEEPALIVE2 with trailing bytes): answered, not closed.
func TestV2FramesBeyondReadBuffer(t *testing.T) {
	w := newWorld(t, memengine.Options{Config: engine.Config{ReadBufferSize: engine.MinReadBufferSize}})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	addr := w.bindV2(srv)

	r := w.dialRaw(addr)
	long := wire2.AppendBanner(nil, wire2.Banner{Supported: wire2.SupportedFeatures})
	long = append(long[:len(wire2.BannerPrefix)], append([]byte{0x10, 0x27}, long[len(wire2.BannerPrefix)+2:]...)...)
	long = append(long, make([]byte, 10000-16)...) // a 10000-byte payload: 16 meaningful, the rest skipped
	r.write(t, long)
	w.settle()
	got := r.bytes()
	_, n, err := wire2.DecodeBanner(got)
	if err != nil {
		t.Fatal(err)
	}
	if f, _, err := wire2.DecodeFrame(got[n:], wire2.Limits{}); err != nil || f.Tag() != wire2.TagHello || r.isClosed() {
		t.Fatalf("after a long banner: %v, closed %v", err, r.isClosed())
	}

	q := w.dialP2(addr, wire.EntityOSD)
	ka := wire2.AppendKeepalive(nil, wire.Timespec{Sec: 7, Nsec: 8})
	q.write(t, wire2.AppendControl(nil, wire2.TagKeepalive2, append(ka, make([]byte, 9000)...)))
	w.settle()
	if q.isClosed() || !slices.Contains(q.kinds(), proto2.EventKeepaliveAck) || srv.C.KeepalivesReceived.Load() != 1 {
		t.Fatalf("long KEEPALIVE2: closed %v, events %v", q.isClosed(), q.kinds())
	}
}

// Protocols that do not match meet a refusal on the first bytes, never a
// hang: the msgr1 server counts our v2 banner as bad input and closes,
// and our v2 connector's session is refused (HandleRefused; whether it
// read the msgr1 banner first, which proto2 names, depends on the
// close); an msgr1 connector against a v2 server is refused by the
// server on its 9-byte msgr1 banner.
func TestV2MismatchedProtocols(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	v1srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	v1addr := w.bind(v1srv)
	cli, rc := w.endpoint("client.1", "lossy_client", 2, nil)
	to := v1addr
	to.Type = wire.AddrTypeMsgr2
	s := w.connect(cli, wire.EntityOSD, to, true)
	w.settle()
	if !slices.Equal(rc.eventList(), []string{"refused"}) || s.State() != "closed" {
		t.Fatalf("v2 → v1: events %v, state %s", rc.eventList(), s.State())
	}
	if v1srv.C.BadInput.Load() != 1 {
		t.Fatalf("v1 server: bad input %d", v1srv.C.BadInput.Load())
	}

	v2srv, _ := w.endpoint("osd.1", "stateless_server", 3, nil)
	v2addr := w.bindV2(v2srv)
	old, _ := w.endpoint("client.2", "lossy_client", 4, nil)
	to = v2addr
	to.Type = wire.AddrTypeLegacy
	s = w.connect(old, wire.EntityOSD, to, true)
	w.settle()
	if s.IsOpen() || v2srv.C.BadInput.Load() != 1 || len(v2srv.Sessions()) != 0 {
		t.Fatalf("v1 → v2: open %v, server bad input %d", s.IsOpen(), v2srv.C.BadInput.Load())
	}
}

// A v2 peer that floods KEEPALIVE2 and does not read: the acks proto2
// makes are bounded as over msgr1 (our reader pauses once the out-queue
// is full, so the flood stalls in TCP), and once the peer reads again
// every KEEPALIVE2 is answered, in order (TestKeepaliveFloodBounded).
func TestV2KeepaliveFloodBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		pad  int // bytes after the timestamp, which proto2 ignores
		n    int
	}{
		// Padded past the smallest read buffer, a keepalive is assembled
		// by the socket (finishFrame2) rather than read whole.
		{"keepalives", 0, 20000},
		{"keepalives of 5 KiB", 5000, 8000},
	} {
		t.Run(tc.name, func(t *testing.T) { keepaliveFlood(t, tc.pad, tc.n) })
	}
}

func keepaliveFlood(t *testing.T, pad, n int) {
	w := newWorld(t, memengine.Options{PipeBufferSize: 4096, Config: engine.Config{OutQueueLimit: 64 << 10,
		OutQueueHighWater: 16 << 10, OutQueueLowWater: 4 << 10}})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) { c.WriteBatchBytes = 8 << 10 })
	addr := w.bindV2(srv)
	q := w.dialP2(addr, wire.EntityOSD)
	q.setReading(false)
	w.settle()
	var flood []byte
	for i := range n {
		p := append(wire2.AppendKeepalive(nil, wire.Timespec{Sec: uint32(i)}), make([]byte, pad)...)
		flood = wire2.AppendControl(flood, wire2.TagKeepalive2, p)
	}
	frame := len(flood) / n
	stalled := false
	for off := 0; off < len(flood); {
		end := min(off+frame*max(1, (8<<10)/frame), len(flood)) // a write must fit the client's out-queue
		if err := q.c.Write(flood[off:end]); err != nil {
			if !errors.Is(err, engine.ErrOutQueueFull) {
				t.Fatalf("flood write: %v", err) // closed: no progress can come
			}
			// Our out-queue is full: the server stopped reading. Read again.
			stalled = true
			q.setReading(true)
			w.settle()
			continue
		}
		off = end
		w.settle()
	}
	q.setReading(true)
	w.settle()
	if !stalled {
		t.Fatal("the flood never stalled: the server kept reading without bound")
	}
	if got := srv.C.KeepalivesReceived.Load(); got != uint64(n) {
		t.Fatalf("received %d keepalives of %d", got, n)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var acks []uint32
	for _, e := range q.events {
		if e.Kind == proto2.EventKeepaliveAck {
			acks = append(acks, e.Stamp.Sec)
		}
	}
	if len(acks) != n || q.err != nil {
		t.Fatalf("%d acks of %d (peer fault %v)", len(acks), n, q.err)
	}
	for i, sec := range acks {
		if sec != uint32(i) {
			t.Fatalf("ack %d echoes %d", i, sec)
		}
	}
}

// Peers that open msgr2, claim a control frame near the 64 KiB bound
// before any authentication and then stall cost what they sent, not what
// they claimed: the frame's buffer grows with the bytes received.
func TestV2PreAuthClaimNotAllocated(t *testing.T) {
	const peers, claim = 200, 60 << 10
	w := newWorld(t, memengine.Options{})
	srv, _ := w.endpoint("osd.0", "stateless_server", 1, nil)
	addr := w.bindV2(srv)
	hello := wire2.AppendBanner(nil, wire2.Banner{Supported: wire2.SupportedFeatures})
	hello = wire2.AppendPreamble(hello, wire2.Preamble{Tag: wire2.TagHello, NumSegments: 1,
		Segments: [4]wire2.SegmentDesc{{Len: claim, Align: wire2.AlignDefault}}})
	hello = append(hello, make([]byte, 100)...)
	w.settle()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rs := make([]*raw, peers)
	for i := range rs {
		rs[i] = w.dialRaw(addr)
		rs[i].write(t, hello)
	}
	w.settle()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Claimed: 200 × 60 KiB = 12 MiB. Allowed: the frames' first 4 KiB
	// and each connection's own buffers, well under half of that.
	if d := after.TotalAlloc - before.TotalAlloc; d > peers*claim/2 {
		t.Fatalf("%d stalled peers allocated %d bytes (%d each): a claimed length was allocated", peers, d, d/peers)
	}
	for i, r := range rs {
		if r.isClosed() {
			t.Fatalf("peer %d closed while its frame was still arriving", i)
		}
	}
}

// CRCs off is an msgr1 mode: an endpoint configured so refuses to bind or
// dial msgr2 (whose crc mode always checks) instead of ignoring it.
func TestV2RefusesCRCOff(t *testing.T) {
	for _, mode := range []wire.CRCMode{{}, {Header: true}, {Data: true}} {
		w := newWorld(t, memengine.Options{})
		ep, _ := w.endpoint("osd.0", "stateless_server", 1, func(c *Config) { c.CRC = mode })
		if err := ep.Bind("v2:127.0.0.1:0"); !errors.Is(err, ErrV2NoCRC) {
			t.Errorf("%+v: v2 bind: %v", mode, err)
		}
		if err := ep.Bind("127.0.0.1:0"); err != nil {
			t.Errorf("%+v: v1 bind: %v", mode, err)
		}
		to := ep.Addr()
		to.Type = wire.AddrTypeMsgr2
		if _, err := ep.Connect(wire.EntityOSD, to, true); !errors.Is(err, ErrV2NoCRC) {
			t.Errorf("%+v: v2 connect: %v", mode, err)
		}
	}
}
