package msgr1ka

import (
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// The SEQ reply a live 16.2.15 mon sent (msgr-v1-wire.md §6.2).
const monSeqReply = "0dfffffdffbdcf013f01000000010000000f0000000000000001"

// fakeMon plays the server side of §5-§7.3 on a pipe, then acks keepalives.
func fakeMon(t *testing.T, srv net.Conn, firstTag wire.Tag) {
	t.Helper()
	defer srv.Close()
	addr := func(port uint16) wire.EntityAddr {
		return wire.NewEntityAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), 0)
	}
	out := wire.AppendAddr(wire.AppendAddr(wire.AppendBanner(nil), addr(6789)), addr(40000))
	if _, err := srv.Write(out); err != nil {
		return
	}
	in := make([]byte, wire.BannerLen+wire.AddrLen+wire.ConnectLen)
	if _, err := io.ReadFull(srv, in); err != nil {
		return
	}
	reply, _ := hex.DecodeString(monSeqReply)
	if firstTag == wire.TagBadProtoVer {
		bad := append([]byte(nil), reply...)
		bad[0] = byte(wire.TagBadProtoVer)
		srv.Write(bad)
		if _, err := io.ReadFull(srv, in[:wire.ConnectLen]); err != nil {
			return
		}
	}
	srv.Write(append(reply, make([]byte, 8)...))
	io.ReadFull(srv, make([]byte, 8))
	f := make([]byte, FrameLen)
	for {
		if _, err := io.ReadFull(srv, f); err != nil {
			return
		}
		f[0] = byte(TagKeepalive2Ack)
		// Interleave an ACK frame, which the reader must skip.
		srv.Write(append(wire.AppendAck(nil, 1), f...))
	}
}

func TestHandshakeAndKeepaliveAgainstFakeMon(t *testing.T) {
	for _, first := range []wire.Tag{wire.TagSeq, wire.TagBadProtoVer} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			srv, err := ln.Accept()
			if err == nil {
				fakeMon(t, srv, first)
			}
		}()
		cli, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		if err := handshake(cli, "fake", 24); err != nil { // 24: a client toward an OSD-typed server (§10)
			t.Fatalf("first tag %s: %v", first, err)
		}
		rd := NewReader(cli, TagKeepalive2Ack)
		for i := uint64(1); i <= 3; i++ {
			if _, err := cli.Write(AppendKeepalive2(nil, i)); err != nil {
				t.Fatal(err)
			}
			s, err := rd.Next()
			if err != nil || s != i {
				t.Fatalf("ack %d: stamp %d err %v", i, s, err)
			}
		}
		cli.Close()
	}
}
