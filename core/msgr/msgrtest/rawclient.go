package msgrtest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/protocol"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// RawEchoClient is a minimal msgr1 client on a plain *net.TCPConn, for
// measuring a server alone: once open it allocates nothing (its frames are
// built in buffers it keeps, and a TCPConn's Read and Write do not
// allocate), so the allocations a benchmark counts in the process are the
// server's. It is a lossless client of one session: it sends ECHO
// messages, each preceded by an ACK of the replies it has read, and reads
// ECHO_REPLYs, skipping the server's ACKs. It checks the reply's header
// CRC, tid and length, not its payload (the conformance suite and the
// messenger tests do).
type RawEchoClient struct {
	c       *net.TCPConn
	msgAuth bool
	crc     bool
	size    int

	seq, inSeq, acked uint64
	out               []byte // the frame being sent
	foot              []byte // the footer of every ECHO (same data, same CRCs)
	data              []byte
	in                []byte // received, buf[start:end] not yet parsed
	start, end        int
}

// DialRawEcho opens a session to an echo server at addr (no CRCs if
// noCRC) whose ECHOs carry size bytes of data.
func DialRawEcho(addr string, size int, noCRC bool) (*RawEchoClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := nc.(*net.TCPConn)
	r := &RawEchoClient{c: c, crc: !noCRC, size: size, data: make([]byte, size)}
	for i := range r.data {
		r.data[i] = byte(i)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := r.handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("msgrtest: raw client to %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	crc := wire.CRCMode{Header: r.crc, Data: r.crc}
	r.foot = wire.AppendFooter(nil, wire.MakeFooter(nil, nil, r.data, crc), r.msgAuth)
	r.out = make([]byte, 0, 1+8+1+wire.HeaderLen+size+len(r.foot))
	// Room for a reply and the ACKs before it, with slack for a read
	// that brings the start of the next ones.
	r.in = make([]byte, 4*(1+wire.HeaderLen+size+wire.FooterLen)+4096)
	return r, nil
}

// handshake: banner, addresses, connect (no authorizer), READY or SEQ
// (§5, §6, §11.1).
func (r *RawEchoClient) handshake() error {
	if _, err := r.c.Write(wire.AppendBanner(nil)); err != nil {
		return err
	}
	in := make([]byte, wire.BannerLen+2*wire.AddrLen)
	if _, err := io.ReadFull(r.c, in); err != nil {
		return err
	}
	if _, err := wire.DecodeBanner(in); err != nil {
		return err
	}
	me := wire.NewEntityAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), 1)
	out := wire.AppendAddr(nil, me)
	out = wire.AppendConnect(out, wire.Connect{Features: wire.FeaturesAll, HostType: uint32(wire.EntityClient),
		GlobalSeq: 1, ProtocolVersion: protocol.ProtocolVersion(wire.EntityClient, wire.EntityOSD, true)})
	if _, err := r.c.Write(out); err != nil {
		return err
	}
	rb := make([]byte, wire.ConnectReplyLen)
	if _, err := io.ReadFull(r.c, rb); err != nil {
		return err
	}
	rep, _, _ := wire.DecodeConnectReply(rb)
	if (rep.Tag != wire.TagReady && rep.Tag != wire.TagSeq) || rep.AuthLen > wire.MaxAuthorizerLen {
		return fmt.Errorf("connect reply %s (authorizer %d bytes)", rep.Tag, rep.AuthLen)
	}
	if _, err := io.CopyN(io.Discard, r.c, int64(rep.AuthLen)); err != nil {
		return err
	}
	if rep.Tag == wire.TagSeq {
		// The server's in_seq, then ours: nothing received yet (§11.1).
		if _, err := io.CopyN(io.Discard, r.c, 8); err != nil {
			return err
		}
		if _, err := r.c.Write(wire.AppendSeq(nil, 0)); err != nil {
			return err
		}
	}
	r.msgAuth = rep.Features&wire.FeatureMsgAuth != 0
	return nil
}

// Send writes one ECHO with tid (and an ACK first if replies were read).
func (r *RawEchoClient) Send(tid uint64) error {
	b := r.out[:0]
	if r.inSeq > r.acked {
		r.acked = r.inSeq
		b = wire.AppendAck(b, r.inSeq)
	}
	r.seq++
	b = append(b, byte(wire.TagMsg))
	b = wire.AppendHeader(b, wire.Header{Seq: r.seq, Tid: tid, Type: Echo, Priority: wire.PrioDefault,
		DataLen: uint32(r.size), Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}, r.crc)
	b = append(b, r.data...)
	b = append(b, r.foot...)
	r.out = b
	_, err := r.c.Write(b)
	return err
}

// Recv reads up to the next ECHO_REPLY and returns its tid.
func (r *RawEchoClient) Recv() (uint64, error) {
	for {
		tid, n, err := r.parse(r.in[r.start:r.end])
		if err == nil {
			r.start += n
			if n == 0 {
				continue
			}
			return tid, nil
		}
		if err != wire.ErrShort {
			return 0, err
		}
		if r.start > 0 {
			r.end = copy(r.in, r.in[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.in) {
			return 0, fmt.Errorf("msgrtest: raw client: frame larger than %d bytes", len(r.in))
		}
		m, err := r.c.Read(r.in[r.end:])
		r.end += m
		if err != nil {
			return 0, err
		}
	}
}

// parse consumes one frame from b: an ACK or KEEPALIVE is consumed and
// reported as (0, n, nil) with n > 0 after moving start, a reply as its
// tid; wire.ErrShort asks for more bytes.
func (r *RawEchoClient) parse(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, wire.ErrShort
	}
	switch wire.Tag(b[0]) {
	case wire.TagAck:
		if len(b) < 9 {
			return 0, 0, wire.ErrShort
		}
		r.start += 9
		return 0, 0, nil
	case wire.TagKeepalive:
		r.start++
		return 0, 0, nil
	case wire.TagMsg:
	default:
		return 0, 0, fmt.Errorf("msgrtest: raw client: unexpected tag %s", wire.Tag(b[0]))
	}
	h, n, err := wire.DecodeHeader(b[1:])
	if err != nil {
		return 0, 0, err
	}
	if r.crc {
		if err := wire.CheckHeaderCRC(b[1:]); err != nil {
			return 0, 0, err
		}
	}
	if h.Type != EchoReply || h.DataLen != uint32(r.size) || h.FrontLen != 0 || h.MiddleLen != 0 {
		return 0, 0, fmt.Errorf("msgrtest: raw client: reply type %#x data %d front %d middle %d",
			h.Type, h.DataLen, h.FrontLen, h.MiddleLen)
	}
	total := 1 + n + int(h.DataLen) + wire.FooterSize(r.msgAuth)
	if len(b) < total {
		return 0, 0, wire.ErrShort
	}
	r.inSeq = h.Seq
	return h.Tid, total, nil
}

// Close closes the connection.
func (r *RawEchoClient) Close() error { return r.c.Close() }

// rawEchoPair starts an echo server on eng and a raw client of it.
func rawEchoPair(tb testing.TB, eng engine.Engine, size int) *RawEchoClient {
	tb.Helper()
	srv := EchoServer(tb, eng, msgr.Config{})
	r, err := DialRawEcho(srv.ListenAddr().String(), size, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// echoRounds keeps depth ECHOs in flight until n replies are read, tids
// from next on.
func (r *RawEchoClient) echoRounds(n, depth int, next uint64) error {
	inflight := 0
	for done, sent := 0, 0; done < n; {
		for inflight < depth && sent < n {
			if err := r.Send(next + uint64(sent)); err != nil {
				return err
			}
			sent++
			inflight++
		}
		tid, err := r.Recv()
		if err != nil {
			return err
		}
		if want := next + uint64(done); tid != want {
			return fmt.Errorf("msgrtest: reply tid %d, want %d", tid, want)
		}
		inflight--
		done++
	}
	return nil
}

// BenchEchoServer measures the echo server alone: a RawEchoClient (which
// allocates nothing) keeps depth ECHOs of size bytes in flight, so the
// allocs/op that -benchmem reports are the server's per message.
func BenchEchoServer(b *testing.B, eng engine.Engine, size, depth int) {
	r := rawEchoPair(b, eng, size)
	// Warm up: open the session and fill the server's pools.
	if err := r.echoRounds(4*depth+16, depth, 1<<40); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.echoRounds(b.N, depth, 1); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// EchoServerAllocs returns the heap allocations per ECHO round trip in
// the whole process (the least of three windows of n) while a RawEchoClient runs n ECHOs of size bytes with
// depth in flight through an echo server on eng, after a warm-up. The
// client allocates nothing, so this is the server's count (plus whatever
// else the process does meanwhile: run it from a test that is not
// parallel). runtime.MemStats.Mallocs counts every object, tiny ones too.
func EchoServerAllocs(tb testing.TB, eng engine.Engine, size, depth, n int) float64 {
	tb.Helper()
	r := rawEchoPair(tb, eng, size)
	if err := r.echoRounds(4*depth+16, depth, 1<<40); err != nil {
		tb.Fatal(err)
	}
	// The least of three windows: an allocation per message shows in
	// every window, one from elsewhere in the process rarely in all.
	least := -1.0
	for w := 0; w < 3; w++ {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := r.echoRounds(n, depth, uint64(1+w*n)); err != nil {
			tb.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if a := float64(after.Mallocs-before.Mallocs) / float64(n); least < 0 || a < least {
			least = a
		}
	}
	return least
}

// AllocSlack is what CheckAllocs tolerates per message above its
// allowance: room for the odd allocation of the runtime or of the test
// itself over the thousands of messages counted, far below one per message.
const AllocSlack = 0.01

// CheckAllocs fails t if an echo server on f's engine allocates more than
// allowed (+ AllocSlack) per message in steady state (EchoServerAllocs:
// 64 B round trips, and 4 KiB with 64 in flight). allowed is 0 for every
// engine whose own code and libraries allocate nothing (issue 17: 0
// allocs/op on the echo fast path); an engine whose library allocates per
// readable event passes 1 and says why. Run it without -race: the race
// runtime allocates by itself (sync.Pool drops items at random under the
// detector).
func CheckAllocs(t *testing.T, f Factory, allowed float64) {
	t.Helper()
	for _, c := range []struct{ size, depth int }{{64, 1}, {4096, 64}} {
		a := EchoServerAllocs(t, NewEngine(t, f), c.size, c.depth, 4000)
		t.Logf("msgr echo %d B, depth %d: %.4f allocs per message (allowed %.0f)", c.size, c.depth, a, allowed)
		if a > allowed+AllocSlack {
			t.Errorf("msgr echo %d B, depth %d allocates %.4f per message (allowed %.0f + %.2f); see -memprofile of BenchmarkMsgr/Server*",
				c.size, c.depth, a, allowed, AllocSlack)
		}
	}
}
