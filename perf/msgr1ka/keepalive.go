package msgr1ka

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// FrameLen is a KEEPALIVE2 (or its ACK) frame: tag + ceph_timespec.
const FrameLen = 9

// AppendKeepalive2 appends a KEEPALIVE2 frame carrying stamp.
func AppendKeepalive2(dst []byte, stamp uint64) []byte {
	var f [FrameLen]byte
	f[0] = TagKeepalive2
	binary.LittleEndian.PutUint64(f[1:], stamp)
	return append(dst, f[:]...)
}

// Reader reads keepalive acks from a session, skipping the frames a
// server may interleave that carry no request of ours (ACK + u64, a bare
// KEEPALIVE). Anything else is a protocol error for this client.
type Reader struct {
	C net.Conn
	// WantTag is the reply tag: KEEPALIVE2_ACK for a messenger, or
	// KEEPALIVE2 itself against the raw echo server (the TCP floor).
	WantTag byte
	buf     []byte
	r, w    int
}

// NewReader returns a Reader with a 64 KiB buffer (a fixed bound: frames
// are 9 bytes).
func NewReader(c net.Conn, wantTag byte) *Reader {
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
		tag := rd.buf[rd.r]
		switch {
		case tag == rd.WantTag:
			if err := rd.need(FrameLen); err != nil {
				return 0, err
			}
			s := binary.LittleEndian.Uint64(rd.buf[rd.r+1:])
			rd.r += FrameLen
			return s, nil
		case tag == TagAck:
			if err := rd.need(9); err != nil {
				return 0, err
			}
			rd.r += 9
		case tag == 9: // KEEPALIVE, no payload
			rd.r++
		default:
			return 0, fmt.Errorf("msgr1 keepalive from %s: unexpected tag %d", rd.C.RemoteAddr(), tag)
		}
	}
}

// Stamp is the ceph_timespec of t, packed as the 8 bytes after the tag.
func Stamp(t time.Time) uint64 {
	return uint64(uint32(t.Unix())) | uint64(uint32(t.Nanosecond()))<<32
}
