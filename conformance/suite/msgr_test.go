package suite

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
)

const specW = "msgr-v1-wire "

func mc(id, spec, desc string, run func(t *harness.T, e harness.Engine)) harness.Case {
	return harness.Case{ID: id, Kind: harness.KindMsgr, Spec: spec, Desc: desc, Run: run}
}

func u32p(v uint32) *uint32 { return &v }

// msgrCases drive an engine's msgr-server with the suite's raw client.
var msgrCases = []harness.Case{
	cleanExitCase,
	mc("msgr-accept-banner", specW+"§2, §3, §4, §5 acceptor step 1",
		"server sends 'ceph v027' + its real bound address (marker 0, BE family/port) + our socket address, 281 bytes, before reading anything",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			c := rawDial(t, p)
			srv, me, err := c.ReadServerHello()
			if err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(p.Addr(0))
			if srv.Marker != 0 || srv.Family != 2 || !srv.IP.Equal(net.ParseIP(host)) || strconv.Itoa(int(srv.Port)) != port {
				t.Errorf("announced %v, want %s with marker 0, family AF_INET", srv, p.Addr(0))
			}
			la := localAddr(c)
			if !me.IP.Equal(la.IP) || int(me.Port) != la.Port || me.Nonce != 0 {
				t.Errorf("peer_addr_for_me %v, want our socket %v nonce 0", me, la)
			}
		}),
	mc("msgr-accept-ipv6", specW+"§4 (IPv6 legacy address), §5",
		"--listen [::1]:0: READY prints [::1]:port, the banner announces family AF_INET6 (10, big-endian) with ::1 and the port, and a session over IPv6 echoes",
		func(t *harness.T, e harness.Engine) {
			if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
				t.Fatalf("this machine has no ::1: %v", err)
			} else {
				ln.Close()
			}
			if t.V2() {
				acceptIPv6V2(t, e)
				return
			}
			p := harness.Start(t, e, "msgr-server", "--listen", "[::1]:0")
			if !strings.HasPrefix(p.Addr(0), "[::1]:") {
				t.Fatalf("READY %v, want [::1]:port", p.Addrs)
			}
			_, port, _ := net.SplitHostPort(p.Addr(0))
			me := msgr1.Addr{Nonce: 77, Family: 10, IP: net.IPv6loopback}
			s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{Announce: &me})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Server.Family != 10 || !s.Server.IP.Equal(net.IPv6loopback) || strconv.Itoa(int(s.Server.Port)) != port {
				t.Errorf("announced %v, want family 10 [::1]:%s", s.Server, port)
			}
			if s.MeAsSeen.Family != 10 || !s.MeAsSeen.IP.Equal(net.IPv6loopback) {
				t.Errorf("peer_addr_for_me %v, want an AF_INET6 ::1 address", s.MeAsSeen)
			}
			if _, err := s.Echo(1, nil, nil, []byte("v6")); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-accept-nonce-per-process", "CONTRACT.md Messenger; "+specW+"§4",
		"two msgr-server processes announce different (random) nonces",
		func(t *harness.T, e harness.Engine) {
			a, b := startServer(t, e), startServer(t, e)
			sa, _, err1 := rawDial(t, a).ReadServerHello()
			sb, _, err2 := rawDial(t, b).ReadServerHello()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if sa.Nonce == sb.Nonce {
				t.Errorf("both servers announce nonce %d", sa.Nonce)
			}
		}),
	mc("msgr-accept-seq", specW+"§6.2, §7.2, §7.3, §11.2 open",
		"connect offering RECONNECT_SEQ gets SEQ: full feature set, cseq 1, proto 24 (osd), flags 0 (stateful_server is lossless), in_seq 0; session echoes",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			r := s.Reply
			if r.Tag != msgr1.TagSeq || r.ConnectSeq != 1 || r.ProtocolVersion != msgr1.ProtoOSDClient || r.Flags != 0 || s.ServerIn != 0 || r.AuthLen != 0 {
				t.Errorf("reply %v in_seq %d; want SEQ cseq 1 proto 24 flags 0 in_seq 0", r, s.ServerIn)
			}
			for _, bit := range []uint64{msgr1.FeatureReconnectSeq, msgr1.FeatureMsgAuth, msgr1.FeatureKeepalive2} {
				if r.Features&bit == 0 {
					t.Errorf("reply features %#x lack bit %#x", r.Features, bit)
				}
			}
			if _, err := s.Echo(1, nil, nil, []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-accept-ready", specW+"§7.3, §11.2 open",
		"connect without RECONNECT_SEQ gets READY with no trailing in_seq; session echoes",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := open(t, p, msgr1.ClientOpts{Features: msgr1.FeaturesAll &^ msgr1.FeatureReconnectSeq})
			if s.Reply.Tag != msgr1.TagReady || s.Reply.ConnectSeq != 1 {
				t.Fatalf("reply %v, want READY cseq 1", s.Reply)
			}
			if _, err := s.Echo(1, []byte("front"), nil, []byte("data")); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-accept-old-footer", specW+"§8.3",
		"without MSG_AUTH both directions use the 13-byte footer",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := open(t, p, msgr1.ClientOpts{Features: msgr1.FeaturesAll &^ msgr1.FeatureMsgAuth})
			if !s.OldFooter {
				t.Fatal("session negotiated MSG_AUTH although we did not offer it")
			}
			if _, err := s.Echo(9, []byte("f"), []byte("m"), randBytes(3000)); err != nil {
				t.Fatal(err)
			}
			if err := s.Keepalive2(msgr1.Now()); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-accept-badprotover", specW+"§10, §11.2 steps 2 and 10, §16 #6",
		"protocol_version 23 towards an OSD gets BADPROTOVER carrying 24; the socket stays open and a correct connect on it opens the session",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := start(t, p, msgr1.ClientOpts{Proto: u32p(23)})
			r, err := s.SendConnect()
			if err != nil {
				t.Fatal(err)
			}
			if r.Tag != msgr1.TagBadProtoVer || r.ProtocolVersion != msgr1.ProtoOSDClient {
				t.Fatalf("reply %v, want BADPROTOVER proto 24", r)
			}
			s.Opts.Proto = nil
			if err := s.Negotiate(); err != nil {
				t.Fatalf("retry on the same socket: %v", err)
			}
			if _, err := s.Echo(1, nil, nil, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-accept-proto-by-name", specW+"§10",
		"a server named mon.0 expects protocol 15 from a client: 15 opens, 24 gets BADPROTOVER(15)",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e, "--name", "mon.0")
			s := start(t, p, msgr1.ClientOpts{PeerType: msgr1.EntityOSD})
			r, err := s.SendConnect()
			if err != nil {
				t.Fatal(err)
			}
			if r.Tag != msgr1.TagBadProtoVer || r.ProtocolVersion != msgr1.ProtoMonClient {
				t.Fatalf("proto 24 to mon.0: %v, want BADPROTOVER 15", r)
			}
			s.Opts.PeerType = msgr1.EntityMon
			if err := s.Negotiate(); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-banner-bad", specW+"§3, §16 #1",
		"a client banner 'ceph v028' closes the connection with no connect reply",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			c := rawDial(t, p)
			o := msgr1.ClientOpts{}
			s := &msgr1.Session{Conn: c, Opts: o}
			b := []byte("ceph v028")
			b = msgr1.Addr{Nonce: 5, Family: 2, IP: net.IPv4(127, 0, 0, 1).To4()}.Append(b)
			b = msgr1.Connect{Features: msgr1.FeaturesAll, HostType: 8, GlobalSeq: 1, ProtocolVersion: 24}.Append(b)
			_ = s.Send(b)
			seen, err := c.ExpectClosed(closeWithin)
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) > msgr1.ServerHelloLen {
				t.Errorf("server sent %d bytes after its hello (a connect reply?)", len(seen)-msgr1.ServerHelloLen)
			}
			stillServes(t, p)
		}),
	mc("msgr-addr-marker-bad", specW+"§4, §16 #4",
		"a client address whose first byte is 1 (not the legacy marker 0) is a decode error: closed",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := start(t, p, msgr1.ClientOpts{Announce: &msgr1.Addr{Marker: 1, Nonce: 5, Family: 2, IP: net.IPv4(127, 0, 0, 1).To4()}})
			_ = s.Send(s.ConnectMsg().Append(nil))
			expectFault(t, p, s.Conn, "address marker 1")
		}),
	mc("msgr-connect-truncated", specW+"§6.1, §16 #5",
		"20 of 33 connect bytes then FIN: the server closes and answers nothing",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := start(t, p, msgr1.ClientOpts{})
			_ = s.Send(s.ConnectMsg().Append(nil)[:20])
			_ = s.Conn.Conn.(*net.TCPConn).CloseWrite()
			expectFault(t, p, s.Conn, "truncated connect + FIN")
		}),
	mc("msgr-authorizer-oversized", "CONTRACT.md Messenger (limits); "+specW+"§16 #26",
		"a connect claiming a 4 GiB authorizer closes within 3 s without allocating it; other connections keep working",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := start(t, p, msgr1.ClientOpts{})
			m := s.ConnectMsg()
			m.AuthProtocol, m.AuthLen = 1, 0xFFFFFFFF
			_ = s.Send(m.Append(nil))
			expectFault(t, p, s.Conn, "authorizer_len 4 GiB")
		}),
	badMsgCase("msgr-header-crc-bad", specW+"§8.4 step 1, §9.2, §16 #14", "a header with a wrong crc closes the connection; no reply",
		func(m *msgr1.Message) { m.Header.CRC ^= 0x5a5a }),
	badMsgCase("msgr-front-crc-bad", specW+"§8.4 step 5, §16 #15", "a wrong front crc closes the connection; no reply",
		func(m *msgr1.Message) { m.Footer.FrontCRC ^= 1 }),
	badMsgCase("msgr-middle-crc-bad", specW+"§8.4 step 5, §16 #15", "a wrong middle crc closes the connection; no reply",
		func(m *msgr1.Message) { m.Footer.MiddleCRC ^= 1 }),
	badMsgCase("msgr-data-crc-bad", specW+"§8.4 step 5, §16 #15", "a wrong data crc (NOCRC clear) closes the connection; no reply",
		func(m *msgr1.Message) { m.Footer.DataCRC ^= 1 }),
	badMsgCase("msgr-footer-aborted", specW+"§8.3, §8.4 step 4, §16 #16", "a footer without COMPLETE (ABORTED) closes the connection; no reply",
		func(m *msgr1.Message) { m.Footer.Flags = 0 }),
	mc("msgr-data-nocrc", specW+"§8.3, §8.4 step 5",
		"footer flag NOCRC: a wrong data crc is not checked and the message is echoed",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			m := s.NewEcho(3, []byte("f"), nil, []byte("payload"))
			m.Footer.DataCRC, m.Footer.Flags = 0xdeadbeef, msgr1.FooterComplete|msgr1.FooterNoCRC
			if err := s.SendMsg(m); err != nil {
				t.Fatal(err)
			}
			r, _, err := s.NextMsg()
			if err != nil {
				t.Fatalf("no reply to a NOCRC message: %v", err)
			}
			if r.Header.Tid != 3 || string(r.Data) != "payload" {
				t.Fatalf("reply tid %d data %q", r.Header.Tid, r.Data)
			}
		}),
	mc("msgr-frame-truncated", specW+"§8, §16 #5",
		"a MSG cut inside its front, then FIN: closed, nothing dispatched or echoed",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			f := s.NewEcho(1, randBytes(100), nil, nil).AppendFrame(nil, false)
			_ = s.Send(f[:1+msgr1.HeaderLen+40])
			_ = s.Conn.Conn.(*net.TCPConn).CloseWrite()
			expectFault(t, p, s.Conn, "truncated MSG + FIN")
		}),
	oversizedCase("msgr-oversized-front", "front", func(h *msgr1.Header) { h.FrontLen = 0xFFFFFFFF }),
	oversizedCase("msgr-oversized-middle", "middle", func(h *msgr1.Header) { h.MiddleLen = 0xFFFFFFFF }),
	oversizedCase("msgr-oversized-data", "data", func(h *msgr1.Header) { h.DataLen = 0xFFFFFFFF }),
	mc("msgr-max-message-bytes", "CONTRACT.md Messenger --max-message-bytes",
		"--max-message-bytes 65536: a message of exactly 65536 bytes (front+middle+data) is echoed, one of 65537 closes the connection",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e, "--max-message-bytes", "65536")
			s := openDefault(t, p)
			if _, err := s.Echo(1, randBytes(1000), randBytes(536), randBytes(64000)); err != nil {
				t.Fatalf("message at the limit: %v", err)
			}
			_ = s.SendMsg(s.NewEcho(2, randBytes(1000), randBytes(537), randBytes(64000)))
			expectFault(t, p, s.Conn, "message of 65537 bytes")
		}),
	mc("msgr-unknown-tag", specW+"§7.4, §16 #13",
		"an ECHO followed by tag 99 in one write: the connection is closed, but the ECHO before it was processed (its reply arrives, or is resent after a reconnect: server in_seq 1)",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			b := s.NewEcho(1, nil, nil, []byte("before")).AppendFrame(nil, false)
			_ = s.Send(append(b, 99))
			var got *msgr1.Message
			for {
				f, err := s.ReadFrame()
				if err != nil {
					break // closed: expected after tag 99
				}
				if f.Tag == msgr1.TagMsg {
					got = f.Msg
				}
			}
			// The fault must be a close, not a hang: ReadFrame ended on EOF
			// or reset, not on its 5 s timeout.
			in := uint64(0)
			if got != nil {
				if err := msgr1.CheckEchoReply(got, 1, nil, nil, []byte("before")); err != nil {
					t.Fatal(err)
				}
				in = 1
			}
			s2 := open(t, p, msgr1.ClientOpts{Nonce: s.Opts.Nonce, GlobalSeq: 2, ConnectSeq: s.Reply.ConnectSeq + 1, InSeq: in})
			if s2.ServerIn != 1 {
				t.Fatalf("after the fault the server's in_seq is %d: the ECHO before tag 99 was not processed", s2.ServerIn)
			}
			if got == nil {
				m, _, err := s2.NextMsg()
				if err != nil {
					t.Fatalf("reply to the ECHO before tag 99 neither sent nor resent: %v", err)
				}
				if err := msgr1.CheckEchoReply(m, 1, nil, nil, []byte("before")); err != nil {
					t.Fatal(err)
				}
			}
		}),
	mc("msgr-unknown-type", "CONTRACT.md Messenger echo service",
		"a message of type 0x1234 is dispatched and dropped (no reply, connection stays); the next ECHO is answered",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			m := s.NewEcho(1, nil, nil, []byte("x"))
			m.Header.Type = 0x1234
			m = m.Seal()
			_ = s.SendMsg(m)
			r, err := s.Echo(2, nil, nil, []byte("y"))
			if err != nil {
				t.Fatalf("after an unknown type: %v (got %+v)", err, r)
			}
		}),
	mc("msgr-close-tag", specW+"§7.4, §16 #23",
		"tag CLOSE makes the server close the connection",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			_ = s.Send([]byte{msgr1.TagClose})
			if _, err := s.Conn.ExpectClosed(closeWithin); err != nil {
				t.Fatal(err)
			}
		}),
	echoCase("msgr-echo-0", 0),
	echoCase("msgr-echo-1", 1),
	echoCase("msgr-echo-4095", 4095),
	echoCase("msgr-echo-4096", 4096),
	echoCase("msgr-echo-65536", 65536),
	echoCase("msgr-echo-1mib", 1<<20),
	mc("msgr-echo-random", "CONTRACT.md echo service; "+specW+"§8",
		"30 ECHOs with random front/middle/data sizes (0–200 KiB) come back byte-identical with their tids",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			for i := range 30 {
				f, m, d := randBytes(rand.IntN(2048)), randBytes(rand.IntN(512)), randBytes(rand.IntN(200<<10))
				if _, err := s.Echo(uint64(1000+i), f, m, d); err != nil {
					t.Fatalf("echo %d (%d/%d/%d): %v", i, len(f), len(m), len(d), err)
				}
			}
		}),
	mc("msgr-echo-pipeline", specW+"§13 out_seq; CONTRACT.md echo",
		"200 ECHOs in one write are answered in order, replies numbered seq 1..200",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			var b []byte
			for i := range 200 {
				b = s.NewEcho(uint64(i+1), nil, nil, []byte(fmt.Sprint(i))).AppendFrame(b, false)
			}
			_ = s.Send(b)
			for i := range 200 {
				m, _, err := s.NextMsg()
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if err := msgr1.CheckEchoReply(m, uint64(i+1), nil, nil, []byte(fmt.Sprint(i))); err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if m.Header.Seq != uint64(i+1) {
					t.Fatalf("reply %d has seq %d, want %d", i, m.Header.Seq, i+1)
				}
			}
		}),
	mc("msgr-reply-header", specW+"§8.1",
		"an ECHO_REPLY header names the server (src osd.0), carries a valid crc and a COMPLETE footer",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			m, err := s.Echo(42, nil, nil, []byte("hdr"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.SrcType != msgr1.EntityOSD || m.Header.SrcNum != 0 {
				t.Errorf("src %d.%d, want osd.0", m.Header.SrcType, m.Header.SrcNum)
			}
		}),
	mc("msgr-ack", specW+"§7.4 ACK, §13",
		"a lossless (stateful_server) server ACKs received messages: an ACK covering seq 3 arrives after 3 messages",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			var b []byte
			for i := range 3 {
				b = s.NewEcho(uint64(i+1), nil, nil, []byte("a")).AppendFrame(b, false)
			}
			_ = s.Send(b)
			deadline := time.Now().Add(3 * time.Second)
			var acked uint64
			for acked < 3 && time.Now().Before(deadline) {
				f, err := s.ReadFrame()
				if err != nil {
					t.Fatalf("waiting for ACK 3 (highest seen %d): %v", acked, err)
				}
				if f.Tag == msgr1.TagAck {
					acked = max(acked, f.Seq)
				}
			}
			if acked != 3 {
				t.Fatalf("highest ACK %d, want 3", acked)
			}
		}),
	mc("msgr-keepalive2", specW+"§7.4 KEEPALIVE2",
		"KEEPALIVE2 is answered with KEEPALIVE2_ACK carrying the same timestamp",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			for _, ts := range []msgr1.Timespec{msgr1.Now(), {Sec: 0x6b025d86, Nsec: 0x14369a75}, {Sec: 0xffffffff, Nsec: 999999999}} {
				if err := s.Keepalive2(ts); err != nil {
					t.Fatal(err)
				}
			}
		}),
	mc("msgr-keepalive-legacy", specW+"§7.4 KEEPALIVE, §16 #22",
		"a legacy KEEPALIVE followed by a KEEPALIVE2 in the same write: no answer to the first, the second is acked without waiting for more input",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			ts := msgr1.Timespec{Sec: 77, Nsec: 88}
			_ = s.Send(msgr1.AppendKeepalive2([]byte{msgr1.TagKeepalive}, ts, false))
			f, err := s.ReadFrame()
			for err == nil && f.Tag == msgr1.TagAck {
				f, err = s.ReadFrame()
			}
			if err != nil || f.Tag != msgr1.TagKeepalive2Ack || f.TS != ts {
				t.Fatalf("got %s %v err %v, want KEEPALIVE2_ACK %v", msgr1.TagName(f.Tag), f.TS, err, ts)
			}
		}),
	mc("msgr-seq-gap", specW+"§13, §16 #20",
		"a first message with seq 5 is accepted and echoed",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			s.OutSeq = 4
			if _, err := s.Echo(5, nil, nil, []byte("gap")); err != nil {
				t.Fatal(err)
			}
		}),
	mc("msgr-duplicate-dropped", specW+"§8.4 step 8, §16 #21",
		"a duplicate seq is dropped and the connection keeps working (no Pacific stall): replies only to seq 1 and 2, then KEEPALIVE2 is acked",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			m1 := s.NewEcho(1, nil, nil, []byte("one"))
			dup := m1
			dup.Header.Tid = 99
			dup = dup.Seal()
			m2 := s.NewEcho(2, nil, nil, []byte("two"))
			b := m1.AppendFrame(nil, false)
			b = dup.AppendFrame(b, false)
			b = m2.AppendFrame(b, false)
			_ = s.Send(b)
			for _, want := range []uint64{1, 2} {
				m, _, err := s.NextMsg()
				if err != nil {
					t.Fatalf("awaiting reply tid %d: %v", want, err)
				}
				if m.Header.Tid != want {
					t.Fatalf("reply tid %d, want %d (duplicate seq 1 was dispatched?)", m.Header.Tid, want)
				}
			}
			if err := s.Keepalive2(msgr1.Now()); err != nil {
				t.Fatalf("after a duplicate: %v", err)
			}
		}),
	mc("msgr-crc-none", "spec/cli.md --crc none; "+specW+"§9.2 (crc settings are local, not negotiated)",
		"msgr-server --crc none accepts a message whose header and footer crcs are all zero and echoes its bytes",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e, "--crc", "none")
			s := openDefault(t, p)
			s.NoCRC = true // the server's replies carry no crcs either
			m := s.NewEcho(5, []byte("f"), []byte("m"), []byte("no crcs"))
			m.Header.CRC = 0
			m.Footer = msgr1.Footer{Flags: msgr1.FooterComplete}
			_ = s.SendMsg(m)
			r, _, err := s.NextMsg()
			if err != nil {
				t.Fatalf("no reply with --crc none: %v", err)
			}
			if r.Header.Tid != 5 || string(r.Front) != "f" || string(r.Middle) != "m" || string(r.Data) != "no crcs" {
				t.Fatalf("reply tid %d sections %q/%q/%q", r.Header.Tid, r.Front, r.Middle, r.Data)
			}
		}),
	mc("msgr-workers", "spec/cli.md Common engine flags (--workers N)",
		"msgr-server --workers 3 serves 12 concurrent sessions, each echoing 20 messages",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e, srvArgs(t, "--workers", "3")...)
			if t.V2() {
				// The engine's own client opens the 12 sessions (20 ECHOs each).
				checkClientRun(t, harness.Run(e, 60*time.Second, clientArgs(t, p.Addr(0), "--conns", "12", "--depth", "1", "--count", "240", "--size", "0-1300")...), 240)
				return
			}
			errs := make(chan error, 12)
			for i := range 12 {
				go func() {
					s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
					if err != nil {
						errs <- err
						return
					}
					defer s.Close()
					for j := range 20 {
						if _, err := s.Echo(uint64(j), nil, nil, randBytes(i*100+j)); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range 12 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}),
	mc("msgr-metrics", "CONTRACT.md Messenger --metrics",
		"--metrics serves Prometheus text at /metrics (200, text/plain, samples) on the address READY lists after the listener",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e, srvArgs(t, "--metrics", "127.0.0.1:0")...)
			if len(p.Addrs) != 2 {
				t.Fatalf("READY %v: want the listen address and the metrics address", p.Addrs)
			}
			if t.V2() {
				checkClientRun(t, harness.Run(e, 30*time.Second, clientArgs(t, p.Addr(0), "--count", "5", "--depth", "1", "--size", "1")...), 5)
			} else {
				s := openDefault(t, p)
				for i := range 5 {
					if _, err := s.Echo(uint64(i), nil, nil, []byte("m")); err != nil {
						t.Fatal(err)
					}
				}
			}
			resp, err := http.Get("http://" + p.Addr(1) + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			ms, err := scrape(p.Addr(1))
			if err != nil || len(ms) == 0 {
				t.Fatalf("no samples in /metrics: %v", err)
			}
			if t.V2() && ms["msgr_recv_messages_total"] < 5 {
				t.Errorf("msgr_recv_messages_total %v after 5 ECHOs over msgr2", ms["msgr_recv_messages_total"])
			}
		}),
	mc("msgr-garbage", "DESIGN.md principle 3; CONTRACT.md Messenger (malformed input closes only that connection)",
		"60 connections send random bytes at random points (instead of the banner, the address, the connect, or a frame) and hang up: the server survives and keeps serving",
		func(t *harness.T, e harness.Engine) {
			if t.V2() {
				garbageV2(t, e)
				return
			}
			p := startServer(t, e)
			for i := range 60 {
				junk := randBytes(1 + rand.IntN(4096))
				switch i % 4 {
				case 0: // instead of the banner
					c := rawDial(t, p)
					_ = c.Send(junk)
					c.Close()
				case 1: // instead of the address and connect
					s := start(t, p, msgr1.ClientOpts{})
					_ = s.Send(junk)
					s.Close()
				default: // as OPENED-state frames, with a MSG tag half the time
					s := openDefault(t, p)
					if i%4 == 2 {
						junk[0] = msgr1.TagMsg
					}
					_ = s.Send(junk)
					s.Close()
				}
			}
			stillServes(t, p)
		}),
	mc("msgr-sigterm-exit0", "CONTRACT.md Long-running commands",
		"SIGTERM with open sessions and messages in flight: exit status 0 within 5 s",
		func(t *harness.T, e harness.Engine) {
			if t.V2() {
				sigtermV2(t, e)
				return
			}
			p := startServer(t, e)
			s := openDefault(t, p)
			for i := range 20 {
				_ = s.SendMsg(s.NewEcho(uint64(i), nil, nil, randBytes(8192)))
			}
			idle := openDefault(t, p)
			_ = idle
			start := time.Now()
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
		}),
	mc("msgr-bad-flags", "CONTRACT.md Long-running commands; spec/cli.md",
		"bad flags, values and addresses: exit 2 with one line on stderr naming the problem, and no READY",
		func(t *harness.T, e harness.Engine) {
			if t.V2() {
				// spec/cli.md --protocol: what msgr2 refuses before READY.
				bad := [][]string{
					{"msgr-server", "--listen", "127.0.0.1:0", "--protocol", "v2", "--policy", "stateless_server", "--crc", "none"},
					{"msgr-server", "--listen", "127.0.0.1:0", "--protocol", "v3"},
					{"msgr-client", "--connect", "v2:127.0.0.1:1/0", "--protocol", "v1", "--policy", "lossy_client", "--count", "1"},
					{"msgr-client", "--connect", "v2:127.0.0.1:1/x", "--policy", "lossy_client", "--count", "1"},
				}
				for _, args := range bad {
					checkUsageError(t, args, harness.Run(e, 10*time.Second, args...))
				}
				return
			}
			for _, args := range [][]string{
				{"msgr-server", "--listen", "127.0.0.1:0", "--no-such-flag"},
				{"msgr-server", "--listen", "127.0.0.1:0", "--policy", "no_such_policy"},
				{"msgr-server", "--listen", "127.0.0.1:0", "--name", "nosuchtype.0"},
				{"msgr-server", "--listen", "256.1.1.1:1"},
				{"msgr-server", "--listen", "127.0.0.1:0", "--max-message-bytes", "lots"},
				{"msgr-server", "--listen", "127.0.0.1:0", "--dispatch-delay", "soon"},
				{"msgr-client", "--connect", "127.0.0.1:1"},
				{"msgr-client", "--connect", "127.0.0.1:1", "--count", "-5"},
			} {
				r := harness.Run(e, 10*time.Second, args...)
				checkUsageError(t, args, r)
			}
			// spec/cli.md: an unknown subcommand names itself on the first
			// line, then the usage follows.
			r := harness.Run(e, 10*time.Second, "no-such-subcommand")
			if first := nonEmptyLines(r.Stderr); r.Code != 2 || len(first) == 0 || !strings.Contains(first[0], `unknown subcommand "no-such-subcommand"`) || r.Stdout != "" {
				t.Errorf("unknown subcommand: exit %d, stderr %q, stdout %q", r.Code, r.Stderr, r.Stdout)
			}
		}),
	mc("msgr-listen-in-use", "CONTRACT.md Long-running commands (unusable address)",
		"--listen on an address already bound (a userspace stack: one it does not own): exit 2 with a one-line error, no READY",
		func(t *harness.T, e harness.Engine) {
			ln, err := net.Listen("tcp", net.JoinHostPort(harness.HostIP(), "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			args := append([]string{"msgr-server", "--listen", ln.Addr().String()}, srvArgs(t)...)
			checkUsageError(t, args, harness.Run(e, 10*time.Second, args...))
		}),
	mc("msgr-version", "CONTRACT.md Build; spec/cli.md",
		"`version` prints '<engine> netmodels <version> ...' and exits 0",
		func(t *harness.T, e harness.Engine) {
			r := harness.Run(e, 5*time.Second, "version")
			if r.Code != 0 || len(r.Stdout) < len(e.Name)+10 || r.Stdout[:len(e.Name)+10] != e.Name+" netmodels" {
				t.Fatalf("version: exit %d stdout %q", r.Code, r.Stdout)
			}
		}),
	{ID: "msgr-1000-conns", Kind: harness.KindMsgr, Heavy: true, Spec: "CONTRACT.md; DESIGN.md principle 3", Desc: "1,000 concurrent raw sessions each complete the handshake and an ECHO round trip", Run: func(t *harness.T, e harness.Engine) { thousandConns(t, e) }},
}

// checkUsageError asserts exit 2, exactly one non-empty stderr line and no
// READY on stdout.
func checkUsageError(t *harness.T, args []string, r harness.Result) {
	t.Helper()
	lines := nonEmptyLines(r.Stderr)
	if r.Code != 2 {
		t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.Code, r.Stderr)
		return
	}
	if len(lines) != 1 {
		t.Errorf("%v: %d stderr lines, want exactly one: %q", args, len(lines), r.Stderr)
	}
	if len(r.Stdout) > 0 {
		t.Errorf("%v: stdout %q, want nothing (no READY)", args, r.Stdout)
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			if l := s[start:i]; len(l) > 0 && l != "\r" {
				out = append(out, l)
			}
			start = i + 1
		}
	}
	return out
}

func badMsgCase(id, spec, desc string, corrupt func(*msgr1.Message)) harness.Case {
	return mc(id, spec, desc, func(t *harness.T, e harness.Engine) {
		p := startServer(t, e)
		s := openDefault(t, p)
		m := s.NewEcho(1, []byte("front"), []byte("middle"), []byte("data"))
		corrupt(&m)
		_ = s.SendMsg(m)
		expectFault(t, p, s.Conn, id)
	})
}

func oversizedCase(id, section string, set func(*msgr1.Header)) harness.Case {
	return mc(id, "CONTRACT.md Messenger (--max-message-bytes); "+specW+"§16 #26",
		"a header claiming a 4 GiB "+section+" closes that connection within 3 s without allocating it; a second connection still echoes",
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			m := s.NewEcho(1, nil, nil, nil)
			set(&m.Header)
			m.Header = m.Header.Sealed()
			_ = s.Send(append([]byte{msgr1.TagMsg}, m.Header.Append(nil)...))
			expectFault(t, p, s.Conn, "4 GiB "+section+" claim")
		})
}

func echoCase(id string, n int) harness.Case {
	return mc(id, "CONTRACT.md echo service; "+specW+"§8, §9",
		fmt.Sprintf("ECHO (0x7E01) with %d data bytes comes back as ECHO_REPLY (0x7E02), same tid, byte-identical, valid crcs", n),
		func(t *harness.T, e harness.Engine) {
			p := startServer(t, e)
			s := openDefault(t, p)
			d := randBytes(n)
			if _, err := s.Echo(uint64(n)+1, nil, nil, d); err != nil {
				t.Fatal(err)
			}
		})
}

func thousandConns(t *harness.T, e harness.Engine) {
	p := startServer(t, e)
	const n = 1000
	errs := make(chan error, n)
	sessions := make(chan *msgr1.Session, n)
	sem := make(chan struct{}, 200) // dial in waves so the accept backlog is not the test
	for i := range n {
		go func() {
			sem <- struct{}{}
			s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
			<-sem
			if err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			sessions <- s
			errs <- nil
		}()
	}
	var open []*msgr1.Session
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
			if failed <= 3 {
				t.Errorf("%v", err)
			}
		}
	}
	close(sessions)
	for s := range sessions {
		open = append(open, s)
	}
	if failed > 0 {
		t.Fatalf("%d of %d handshakes failed", failed, n)
	}
	// All 1,000 are open at once; now every one echoes.
	for i, s := range open {
		go func() {
			var tid [8]byte
			binary.LittleEndian.PutUint64(tid[:], uint64(i))
			_, err := s.Echo(uint64(i), nil, nil, tid[:])
			errs <- err
		}()
	}
	for range open {
		if err := <-errs; err != nil {
			failed++
			if failed <= 3 {
				t.Errorf("echo: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d echoes failed with all connections open", failed, n)
	}
}
