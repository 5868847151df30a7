package protocol

import (
	"runtime"
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Each malformed input closes only its own connection (§16); a healthy
// client on the same server keeps working throughout.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	hdr := func(h wire.Header) []byte { return wire.AppendHeader([]byte{byte(wire.TagMsg)}, h, true) }
	good := wire.Header{Seq: 1, Tid: 1, Type: 0x7E01, Priority: 127, Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}
	withFooter := func(h wire.Header, data []byte, f wire.Footer) []byte {
		h.DataLen = uint32(len(data))
		b := append(hdr(h), data...)
		return wire.AppendFooter(b, f, true)
	}
	cases := []struct {
		name string
		pre  bool // handshake first
		send []byte
	}{
		{"wrong banner", false, append([]byte("ceph v028"), make([]byte, wire.AddrLen)...)},
		{"address marker", false, append([]byte(wire.Banner), append([]byte{1, 0, 0, 0}, make([]byte, wire.AddrLen-4)...)...)},
		{"bad header crc", true, func() []byte { b := hdr(good); b[10] ^= 0xff; return b }()},
		{"bad data crc", true, withFooter(good, []byte("data"), wire.Footer{DataCRC: 1, Flags: wire.FooterComplete})},
		{"bad front crc", true, func() []byte {
			h := good
			h.FrontLen = 3
			b := append(hdr(h), "abc"...)
			return wire.AppendFooter(b, wire.Footer{FrontCRC: 7, Flags: wire.FooterComplete}, true)
		}()},
		{"oversized 4 GiB", true, hdr(wire.Header{Seq: 1, FrontLen: 0xFFFFFFFF, MiddleLen: 0xFFFFFFFF, DataLen: 0xFFFFFFFF})},
		{"unknown tag", true, []byte{99}},
		{"footer without COMPLETE", true, withFooter(good, []byte("data"), wire.MakeFooter(nil, nil, []byte("data"), wire.CRCAll))},
		{"authorizer too long", false, nil},
	}
	// footer without COMPLETE: MakeFooter sets COMPLETE; clear it.
	nc := cases[7].send
	nc[len(nc)-1] = 0
	// authorizer too long: handshake with authorizer_len 1 MiB.
	cm := clientConnect(1, 0)
	cm.AuthProtocol, cm.AuthLen = wire.AuthNone, 1<<20
	cases[8].send = wire.AppendConnect(wire.AppendAddr(wire.AppendBanner(nil), clientAddr(9)), cm)

	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	rs.echo = true
	addr := w.bind(srv)
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	healthy := w.connect(cli, wire.EntityOSD, addr, true)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, tc := range cases {
		var r *raw
		if tc.pre {
			r, _ = openRaw(t, w, addr, uint32(100+i), 1, 0, 0)
		} else {
			r = w.dialRaw(addr)
		}
		bad := srv.C.BadInput.Load()
		r.write(t, tc.send)
		w.settle()
		if !r.isClosed() {
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
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Fatalf("allocated %d bytes: a claimed length was allocated", d)
	}
	if len(rs.tids()) != len(cases) {
		t.Fatalf("server delivered %v", rs.tids())
	}
}

// A truncated frame followed by a close delivers nothing and leaves the
// lossless server session in standby, ready for the peer to come back.
func TestTruncatedFrameThenClose(t *testing.T) {
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, nil)
	addr := w.bind(srv)
	r, _ := openRaw(t, w, addr, 5, 1, 0, 0)
	full := rawMsg(1)
	r.write(t, full[:len(full)-3])
	w.settle()
	r.c.Close()
	w.settle()
	if rs.count() != 0 {
		t.Fatal("delivered a truncated message")
	}
	ss := srv.Sessions()
	if len(ss) != 1 || ss[0].State() != "standby" {
		t.Fatalf("sessions %d", len(ss))
	}
	// The peer comes back with cs+1 and resends; delivered once.
	r2 := w.dialRaw(addr)
	rep := rawClientHello(t, w, r2, clientAddr(5), clientConnect(2, 2))
	if rep.Tag != wire.TagSeq || rep.ConnectSeq != 3 {
		t.Fatalf("%+v", rep)
	}
	if v, _, _ := wire.DecodeSeq(r2.take(8)); v != 0 {
		t.Fatalf("in_seq %d", v)
	}
	r2.write(t, append(wire.AppendSeq(nil, 0), full...))
	w.settle()
	checkInOrder(t, rs.tids(), 1)
}
