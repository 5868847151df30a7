// Package msgr1ka is the harness's minimal msgr1 client: it opens a session
// (banner, addresses, ceph_msg_connect, SEQ exchange) and then speaks only
// KEEPALIVE2 / KEEPALIVE2_ACK. That is the only messenger work a lone
// ceph-mon does without a cluster, so it is how our engines' msgr-server and
// the real ceph-mon are compared with the same client
// (shared/spec/msgr-v1-wire.md §3-§7, shared/peers/ceph-mon.md §5).
// The bytes are core/msgr/wire's (one msgr1 codec in core and perf); this
// package adds only the client's steps and the keepalive loop. The
// conformance suite keeps its own codec, on purpose, as the independent
// check of that one.
package msgr1ka

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// HandshakeError is a refused or malformed handshake.
type HandshakeError struct {
	Peer   string
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("msgr1 handshake with %s: %s", e.Peer, e.Reason)
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
	if _, err := c.Write(wire.AppendBanner(nil)); err != nil {
		return fmt.Errorf("msgr1 banner to %s: %w", peer, err)
	}
	in := make([]byte, wire.BannerLen+2*wire.AddrLen)
	if _, err := io.ReadFull(c, in); err != nil {
		return fmt.Errorf("msgr1 banner from %s: %w", peer, err)
	}
	if _, err := wire.DecodeBanner(in); err != nil {
		return &HandshakeError{peer, fmt.Sprintf("bad banner %q", in[:wire.BannerLen])}
	}
	// The server's address and ours as it sees us are not needed: a
	// client that announces no address of its own is accepted as is.
	me := wire.NewEntityAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), rand.Uint32())
	out := wire.AppendAddr(nil, me)
	features := wire.FeaturesAll
	rb := make([]byte, wire.ConnectReplyLen)
	for attempt := 0; attempt < 4; attempt++ {
		// No authorizer: msgr1 clients authenticate to mons with MAuth
		// messages, and our servers need none (§12).
		out = wire.AppendConnect(out, wire.Connect{Features: features, HostType: uint32(wire.EntityClient),
			GlobalSeq: uint32(attempt + 1), ProtocolVersion: proto})
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("msgr1 connect to %s: %w", peer, err)
		}
		out = out[:0]
		if _, err := io.ReadFull(c, rb); err != nil {
			return fmt.Errorf("msgr1 connect reply from %s: %w", peer, err)
		}
		r, _, _ := wire.DecodeConnectReply(rb)
		// The client sent no authorizer, so a large reply one is broken:
		// refuse before reading it.
		if r.AuthLen > wire.MaxAuthorizerLen {
			return &HandshakeError{peer, fmt.Sprintf("authorizer reply of %d bytes", r.AuthLen)}
		}
		if _, err := io.CopyN(io.Discard, c, int64(r.AuthLen)); err != nil {
			return fmt.Errorf("msgr1 authorizer reply from %s: %w", peer, err)
		}
		switch r.Tag {
		case wire.TagReady:
			return nil
		case wire.TagSeq:
			var seq [8]byte
			if _, err := io.ReadFull(c, seq[:]); err != nil {
				return fmt.Errorf("msgr1 seq from %s: %w", peer, err)
			}
			// Our in_seq: nothing received yet.
			if _, err := c.Write(wire.AppendSeq(nil, 0)); err != nil {
				return fmt.Errorf("msgr1 seq to %s: %w", peer, err)
			}
			return nil
		case wire.TagBadProtoVer:
			proto = r.ProtocolVersion
		case wire.TagFeatures:
			features |= r.Features
		case wire.TagRetryGlobal, wire.TagRetrySession:
			// A brand-new session with a fresh global_seq retries as is.
		default:
			return &HandshakeError{peer, fmt.Sprintf("connect reply tag %s", r.Tag)}
		}
	}
	return &HandshakeError{peer, "no session after 4 connect attempts"}
}
