package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The bulk-stream protocol between RunStream and the raw server's sink
// (rawtcp). The client sends frames, each an 8-byte big-endian payload
// length and that many bytes; a frame of length 0 ends the stream. The
// sink then answers one 8-byte big-endian count: every byte it received
// before the end frame, headers included, so the count is the bytes the
// client wrote before it (the load generator's writes are whole frames).
// The client reads the count and closes; the sink closes when it sees the
// client's close.
//
// Why in-band: a stream that ended with the client's FIN and waited for
// the sink's answer needed a proxy to relay a half-closed session, which
// is the conformance suite's business, not a throughput scenario's (gnet
// closes a connection on read EOF and had no number at all). The end
// frame crosses a proxy like any byte, and the only extra bytes on the
// wire are one 8-byte header per 256 KiB write (0.003 %).

// StreamHeaderSize is the size of a frame header and of the sink's count.
const StreamHeaderSize = 8

// MaxStreamFrame bounds a frame's payload length. The sink allocates
// nothing per frame (it skips the payload), but a larger length is not
// something this client sends: it means the peer speaks another protocol
// (the old unframed stream's first bytes 00 01 02 ... read as 2^48+),
// and the sink closes without answering rather than skip for ever.
const MaxStreamFrame = 16 << 20

// ErrStreamFrameTooLarge is StreamDecoder's error for a header above
// MaxStreamFrame.
var ErrStreamFrameTooLarge = errors.New("stream frame larger than MaxStreamFrame")

// PutStreamHeader writes a frame header for a payload of n bytes into
// b[:StreamHeaderSize].
func PutStreamHeader(b []byte, n int) { binary.BigEndian.PutUint64(b, uint64(n)) }

// StreamDecoder follows the frames of one stream and counts its bytes
// (the sink's side). Its state is the partial header (at most 8 bytes) and
// the rest of the current payload: bounded whatever the peer sends.
type StreamDecoder struct {
	hdr   [StreamHeaderSize]byte
	nhdr  int    // header bytes held
	left  uint64 // payload bytes of the current frame still to come
	count int64  // bytes before the end frame, headers included
	done  bool
	err   error // a bad header: the stream cannot be resynchronised
}

// Feed consumes b. It reports how many bytes it used and whether the end
// frame is complete; bytes after the end frame are not used (n < len(b)),
// and a Feed after the end uses nothing. After an error every Feed
// returns it and uses nothing.
func (d *StreamDecoder) Feed(b []byte) (n int, done bool, err error) {
	if d.err != nil {
		return 0, false, d.err
	}
	for n < len(b) && !d.done {
		if d.left > 0 {
			k := uint64(len(b) - n)
			if k > d.left {
				k = d.left
			}
			d.left -= k
			n += int(k)
			d.count += int64(k)
			continue
		}
		c := copy(d.hdr[d.nhdr:], b[n:])
		d.nhdr += c
		n += c
		if d.nhdr < StreamHeaderSize {
			break
		}
		l := binary.BigEndian.Uint64(d.hdr[:])
		if l > MaxStreamFrame {
			d.err = fmt.Errorf("%w: header says %d bytes (after %d bytes)", ErrStreamFrameTooLarge, l, d.count)
			return n, false, d.err
		}
		d.nhdr = 0
		if l == 0 {
			d.done = true
			break
		}
		d.count += StreamHeaderSize
		d.left = l
	}
	return n, d.done, nil
}

// Count is the number of bytes received before the end frame so far.
func (d *StreamDecoder) Count() int64 { return d.count }
