package msgr1ka

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The SEQ reply a live 16.2.15 mon sent (msgr-v1-wire.md §6.2).
const monSeqReply = "0dfffffdffbdcf013f01000000010000000f0000000000000001"

func TestParseReplyLiveVector(t *testing.T) {
	b, _ := hex.DecodeString(monSeqReply)
	r, err := ParseReply(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Reply{Tag: tagSeq, Features: FeaturesAll, GlobalSeq: 1, ConnectSeq: 1, ProtocolVersion: 15, Flags: 1}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	for i := 0; i < len(b); i++ {
		if _, err := ParseReply(b[:i]); !errors.Is(err, ErrShort) {
			t.Fatalf("cut at %d: %v, want ErrShort", i, err)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	b, _ := hex.DecodeString(monSeqReply)
	f.Add(b)
	f.Add(b[:10])
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseReply(in)
		if err == nil && len(in) < replyLen {
			t.Fatalf("accepted %d bytes", len(in))
		}
		if err == nil && r.Tag != in[0] {
			t.Fatal("tag mismatch")
		}
	})
}

func TestLegacyAddrLayout(t *testing.T) {
	// §4 example: 127.0.0.1:47411 nonce 0.
	got := appendLegacyAddr(nil, net.IPv4(127, 0, 0, 1), 47411, 0)
	want, _ := hex.DecodeString("00000000000000000002b9337f000001" + strings.Repeat("00", 120))
	if !bytes.Equal(got, want) {
		t.Fatalf("address bytes\n got %x\nwant %x", got, want)
	}
}

// fakeMon plays the server side of §5-§7.3 on a pipe, then acks keepalives.
func fakeMon(t *testing.T, srv net.Conn, firstTag byte) {
	t.Helper()
	defer srv.Close()
	out := append([]byte(Banner), appendLegacyAddr(nil, net.IPv4(127, 0, 0, 1), 6789, 0)...)
	out = appendLegacyAddr(out, net.IPv4(127, 0, 0, 1), 40000, 0)
	if _, err := srv.Write(out); err != nil {
		return
	}
	in := make([]byte, len(Banner)+addrLen+connectLen)
	if _, err := io.ReadFull(srv, in); err != nil {
		return
	}
	reply, _ := hex.DecodeString(monSeqReply)
	if firstTag == tagBadProtoVer {
		bad := append([]byte(nil), reply...)
		bad[0] = tagBadProtoVer
		srv.Write(bad)
		if _, err := io.ReadFull(srv, in[:connectLen]); err != nil {
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
		f[0] = TagKeepalive2Ack
		// Interleave an ACK frame, which the reader must skip.
		srv.Write(append([]byte{TagAck, 1, 0, 0, 0, 0, 0, 0, 0}, f...))
	}
}

func TestHandshakeAndKeepaliveAgainstFakeMon(t *testing.T) {
	for _, first := range []byte{tagSeq, tagBadProtoVer} {
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
		if err := handshake(cli, "fake", ProtocolOSD); err != nil {
			t.Fatalf("first tag %d: %v", first, err)
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
