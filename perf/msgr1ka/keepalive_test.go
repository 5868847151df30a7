package msgr1ka

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// bufConn is a net.Conn that reads from a fixed buffer.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *bufConn) RemoteAddr() net.Addr       { return &net.TCPAddr{} }

func TestReaderSkipsAckAndKeepalive(t *testing.T) {
	var in []byte
	in = wire.AppendAck(in, 9)               // ACK seq 9
	in = append(in, byte(wire.TagKeepalive)) // KEEPALIVE
	in = append(in, AppendKeepalive2(nil, 42)...)
	in[len(in)-FrameLen] = byte(TagKeepalive2Ack)
	rd := NewReader(&bufConn{r: bytes.NewReader(in)}, TagKeepalive2Ack)
	s, err := rd.Next()
	if err != nil || s != 42 {
		t.Fatalf("stamp %d err %v", s, err)
	}
	if _, err := rd.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("at end: %v, want unexpected EOF", err)
	}
}

func TestReaderRejectsUnknownTag(t *testing.T) {
	rd := NewReader(&bufConn{r: bytes.NewReader([]byte{7, 0, 0})}, TagKeepalive2Ack)
	if _, err := rd.Next(); err == nil {
		t.Fatal("a MSG frame was accepted by the keepalive reader")
	}
}

func FuzzReader(f *testing.F) {
	ack := AppendKeepalive2(nil, 7)
	ack[0] = byte(TagKeepalive2Ack)
	f.Add(ack)
	f.Add(append(append(wire.AppendAck(nil, 1), byte(wire.TagKeepalive)), ack...))
	f.Add([]byte{byte(TagKeepalive2Ack), 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(&bufConn{r: bytes.NewReader(in)}, TagKeepalive2Ack)
		for i := 0; i < len(in)+1; i++ {
			if _, err := rd.Next(); err != nil {
				return
			}
		}
		t.Fatal("more acks than bytes")
	})
}
