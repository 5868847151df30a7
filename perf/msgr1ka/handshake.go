// Package msgr1ka is the harness's minimal msgr1 client: it opens a session
// (banner, addresses, ceph_msg_connect, SEQ exchange) and then speaks only
// KEEPALIVE2 / KEEPALIVE2_ACK. That is the only messenger work a lone
// ceph-mon does without a cluster, so it is how our engines' msgr-server and
// the real ceph-mon are compared with the same client
// (shared/spec/msgr-v1-wire.md §3-§7, shared/peers/ceph-mon.md §5).
// Written from the spec, independent of core's codec on purpose.
package msgr1ka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Wire constants (msgr-v1-wire.md §3, §6, §7).
const (
	Banner          = "ceph v027"
	addrLen         = 136
	connectLen      = 33
	replyLen        = 26
	tagReady        = 1
	tagRetrySession = 4
	tagRetryGlobal  = 5
	tagBadProtoVer  = 10
	tagFeatures     = 12
	tagSeq          = 13
	TagAck          = 8
	TagKeepalive2   = 14
	// TagKeepalive2Ack is KEEPALIVE2_ACK.
	TagKeepalive2Ack = 15
	hostTypeClient   = 8
	// FeaturesAll is Pacific's CEPH_FEATURES_ALL, what the stock client offers.
	FeaturesAll uint64 = 0x3f01cfbdfffdffff
)

// ProtocolOSD and ProtocolMon are the sub-protocol versions a client uses
// toward an OSD-typed and a MON-typed server (§10).
const (
	ProtocolOSD = 24
	ProtocolMon = 15
)

// HandshakeError is a refused or malformed handshake.
type HandshakeError struct {
	Peer   string
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("msgr1 handshake with %s: %s", e.Peer, e.Reason)
}

// Reply is a decoded ceph_msg_connect_reply (§6.2).
type Reply struct {
	Tag             uint8
	Features        uint64
	GlobalSeq       uint32
	ConnectSeq      uint32
	ProtocolVersion uint32
	AuthorizerLen   uint32
	Flags           uint8
}

// ErrShort means the buffer holds less than a whole reply.
var ErrShort = errors.New("msgr1: need more bytes")

// maxAuthorizerReply bounds what we skip: the client sends no authorizer,
// so a server answering with a large one is broken; refuse before reading.
const maxAuthorizerReply = 4096

// ParseReply decodes the 26-byte connect reply from b.
func ParseReply(b []byte) (Reply, error) {
	if len(b) < replyLen {
		return Reply{}, ErrShort
	}
	le := binary.LittleEndian
	return Reply{
		Tag: b[0], Features: le.Uint64(b[1:]), GlobalSeq: le.Uint32(b[9:]), ConnectSeq: le.Uint32(b[13:]),
		ProtocolVersion: le.Uint32(b[17:]), AuthorizerLen: le.Uint32(b[21:]), Flags: b[25],
	}, nil
}

func appendLegacyAddr(dst []byte, ip net.IP, port uint16, nonce uint32) []byte {
	var a [addrLen]byte
	binary.LittleEndian.PutUint32(a[4:], nonce)
	binary.BigEndian.PutUint16(a[8:], 2) // AF_INET, big-endian (§4)
	binary.BigEndian.PutUint16(a[10:], port)
	copy(a[12:16], ip.To4())
	return append(dst, a[:]...)
}

func appendConnect(dst []byte, features uint64, gseq, cseq, proto uint32) []byte {
	var c [connectLen]byte
	le := binary.LittleEndian
	le.PutUint64(c[0:], features)
	le.PutUint32(c[8:], hostTypeClient)
	le.PutUint32(c[12:], gseq)
	le.PutUint32(c[16:], cseq)
	le.PutUint32(c[20:], proto)
	// authorizer protocol and length 0: msgr1 clients authenticate to mons
	// with MAuth messages, and our servers need none (§12).
	return append(dst, c[:]...)
}

// Open dials addr and completes the msgr1 handshake as a client. proto is
// the first sub-protocol version to offer; a BADPROTOVER reply is retried
// once with the server's value, FEATURES once with the required bits added.
func Open(addr string, proto uint32, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := handshake(c, addr, proto); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func handshake(c net.Conn, peer string, proto uint32) error {
	if _, err := c.Write([]byte(Banner)); err != nil {
		return fmt.Errorf("msgr1 banner to %s: %w", peer, err)
	}
	in := make([]byte, len(Banner)+2*addrLen)
	if _, err := io.ReadFull(c, in); err != nil {
		return fmt.Errorf("msgr1 banner from %s: %w", peer, err)
	}
	if string(in[:len(Banner)]) != Banner {
		return &HandshakeError{peer, fmt.Sprintf("bad banner %q", in[:len(Banner)])}
	}
	out := appendLegacyAddr(nil, net.IPv4(127, 0, 0, 1), 0, rand.Uint32())
	features := FeaturesAll
	for attempt := 0; attempt < 4; attempt++ {
		out = appendConnect(out, features, uint32(attempt+1), 0, proto)
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("msgr1 connect to %s: %w", peer, err)
		}
		out = out[:0]
		rb := make([]byte, replyLen)
		if _, err := io.ReadFull(c, rb); err != nil {
			return fmt.Errorf("msgr1 connect reply from %s: %w", peer, err)
		}
		r, _ := ParseReply(rb)
		if r.AuthorizerLen > maxAuthorizerReply {
			return &HandshakeError{peer, fmt.Sprintf("authorizer reply of %d bytes", r.AuthorizerLen)}
		}
		if _, err := io.CopyN(io.Discard, c, int64(r.AuthorizerLen)); err != nil {
			return fmt.Errorf("msgr1 authorizer reply from %s: %w", peer, err)
		}
		switch r.Tag {
		case tagReady:
			return nil
		case tagSeq:
			var seq [8]byte
			if _, err := io.ReadFull(c, seq[:]); err != nil {
				return fmt.Errorf("msgr1 seq from %s: %w", peer, err)
			}
			// Our in_seq: nothing received yet.
			if _, err := c.Write(make([]byte, 8)); err != nil {
				return fmt.Errorf("msgr1 seq to %s: %w", peer, err)
			}
			return nil
		case tagBadProtoVer:
			proto = r.ProtocolVersion
		case tagFeatures:
			features |= r.Features
		case tagRetryGlobal, tagRetrySession:
			// A brand-new session with a fresh global_seq retries as is.
		default:
			return &HandshakeError{peer, fmt.Sprintf("connect reply tag %d", r.Tag)}
		}
	}
	return &HandshakeError{peer, "no session after 4 connect attempts"}
}
