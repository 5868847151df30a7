package msgr1ka

import (
	"fmt"
	"io"
	"net"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// FrameLen is a KEEPALIVE2 (or its ACK) frame: tag + ceph_timespec.
const FrameLen = 1 + wire.TimespecLen

// Tags the load generators send and wait for.
const (
	TagKeepalive2    = wire.TagKeepalive2
	TagKeepalive2Ack = wire.TagKeepalive2Ack
)

// AppendKeepalive2 appends a KEEPALIVE2 frame carrying stamp (a counter
// the harness matches acks by, packed as the ceph_timespec: low 32 bits in
// sec, high in nsec).
func AppendKeepalive2(dst []byte, stamp uint64) []byte {
	return wire.AppendKeepalive2(dst, wire.Timespec{Sec: uint32(stamp), Nsec: uint32(stamp >> 32)})
}

// Reader reads keepalive acks from a session, skipping the frames a
// server may interleave that carry no request of ours (ACK + u64, a bare
// KEEPALIVE). Anything else is a protocol error for this client.
type Reader struct {
	C net.Conn
	// WantTag is the reply tag: KEEPALIVE2_ACK for a messenger, or
	// KEEPALIVE2 itself against the raw echo server (the TCP floor).
	WantTag wire.Tag
	buf     []byte
	r, w    int
}

// NewReader returns a Reader with a 64 KiB buffer (a fixed bound: frames
// are at most 9 bytes).
func NewReader(c net.Conn, wantTag wire.Tag) *Reader {
	return &Reader{C: c, WantTag: wantTag, buf: make([]byte, 64<<10)}
}

func (rd *Reader) need(n int) error {
	for rd.w-rd.r < n {
		if rd.r > 0 {
			copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.w -= rd.r
			rd.r = 0
		}
		m, err := rd.C.Read(rd.buf[rd.w:])
		if m == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		rd.w += m
	}
	return nil
}

// Next returns the stamp of the next keepalive ack.
func (rd *Reader) Next() (uint64, error) {
	for {
		if err := rd.need(1); err != nil {
			return 0, err
		}
		tag := wire.Tag(rd.buf[rd.r])
		n, _ := wire.FramePayloadLen(tag)
		switch tag {
		case rd.WantTag:
			if err := rd.need(FrameLen); err != nil {
				return 0, err
			}
			ts, _, _ := wire.DecodeTimespec(rd.buf[rd.r+1:])
			rd.r += FrameLen
			return uint64(ts.Sec) | uint64(ts.Nsec)<<32, nil
		case wire.TagAck, wire.TagKeepalive:
			if err := rd.need(1 + n); err != nil {
				return 0, err
			}
			rd.r += 1 + n
		default:
			return 0, fmt.Errorf("msgr1 keepalive from %s: unexpected tag %s", rd.C.RemoteAddr(), tag)
		}
	}
}
