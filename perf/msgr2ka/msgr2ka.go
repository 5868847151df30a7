// Package msgr2ka is the harness's minimal msgr2 client, msgr1ka's
// counterpart: it opens a lossy msgr2.1 crc-mode session (banner, HELLO,
// AUTH_REQUEST with auth none, AUTH_SIGNATURE, CLIENT_IDENT/SERVER_IDENT)
// and then speaks only KEEPALIVE2 / KEEPALIVE2_ACK, so the engines'
// msgr-server --protocol v2 and a real ceph-mon's v2 port are compared
// with one client. The protocol steps are core/msgr/proto2's I/O-free
// client (one msgr2 implementation in core and perf); this package adds
// the socket and the keepalive loop.
package msgr2ka

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// FrameLen is a KEEPALIVE2 (or its ACK) frame in msgr2.1 crc mode: the
// 32-byte preamble, the 8-byte ceph_timespec and its inline crc32c.
var FrameLen = len(wire2.AppendControl(nil, wire2.TagKeepalive2, wire2.AppendKeepalive(nil, wire.Timespec{})))

// Session is an open lossy msgr2 session driven by a proto2 client.
type Session struct {
	C    net.Conn
	p    *proto2.Conn
	buf  []byte // received, not yet consumed by p
	n    int
	acks []uint64 // stamps of KEEPALIVE2_ACKs received, not yet returned
}

// ParseTarget reads an msgr2 address "v2:IP:PORT/NONCE" (the nonce may be
// left out: 0, a monitor's) or a plain "IP:PORT" with nonce 0.
func ParseTarget(addr string) (wire.EntityAddr, error) {
	s := addr
	if !strings.HasPrefix(s, "v2:") {
		s = "v2:" + s
	}
	a, err := wire.ParseTypedAddr(s)
	if err != nil {
		return wire.EntityAddr{}, fmt.Errorf("msgr2 address %q: %w", addr, err)
	}
	return a, nil
}

// Open dials addr (v2:IP:PORT/NONCE) and completes the handshake as a
// lossy client of peerType: a monitor is asked for a global_id
// (AUTH_MODE_MON), any other peer gets an auth none authorizer.
func Open(addr string, peerType wire.EntityType, timeout time.Duration) (*Session, error) {
	target, err := ParseTarget(addr)
	if err != nil {
		return nil, err
	}
	ap := netip.AddrPortFrom(target.IP, target.Port)
	me := wire.NewEntityAddr(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), rand.Uint32())
	me.Type = wire.AddrTypeMsgr2
	p, err := proto2.NewClient(proto2.ClientConfig{EntityType: wire.EntityClient, AuthID: "admin", EntityNum: -1,
		PeerType: peerType, Target: target, Addrs: []wire.EntityAddr{me}, GlobalSeq: 1, Lossy: true})
	if err != nil {
		return nil, fmt.Errorf("msgr2 client: %w", err)
	}
	c, err := net.DialTimeout("tcp", ap.String(), timeout)
	if err != nil {
		return nil, err
	}
	s := &Session{C: c, p: p, buf: make([]byte, 64<<10)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := s.handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("msgr2 handshake with %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return s, nil
}

func (s *Session) handshake() error {
	for !s.p.Established() {
		if err := s.flush(); err != nil {
			return err
		}
		if err := s.read(); err != nil {
			return err
		}
	}
	return s.flush()
}

// flush writes what the protocol queued.
func (s *Session) flush() error {
	if out := s.p.Output(); len(out) > 0 {
		if _, err := s.C.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// read takes one read's bytes into the protocol, keeping what it left
// (a frame cut in two) and the stamps of the acks it reported.
func (s *Session) read() error {
	if s.n == len(s.buf) {
		return errors.New("msgr2: 64 KiB buffered without a complete frame")
	}
	m, err := s.C.Read(s.buf[s.n:])
	if m == 0 && err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	s.n += m
	for s.n > 0 {
		used, err := s.p.Receive(s.buf[:s.n])
		if err != nil {
			_ = s.flush() // what a fault leaves to send, as a courtesy
			return err
		}
		for _, e := range s.p.Events() {
			if e.Kind == proto2.EventKeepaliveAck {
				s.acks = append(s.acks, uint64(e.Stamp.Sec)|uint64(e.Stamp.Nsec)<<32)
			}
		}
		copy(s.buf, s.buf[used:s.n])
		s.n -= used
		if used == 0 {
			break
		}
	}
	return nil
}

// Keepalive2 queues a KEEPALIVE2 carrying stamp (low 32 bits in sec, high
// in nsec, as msgr1ka packs it) and writes it.
func (s *Session) Keepalive2(stamp uint64) error {
	if err := s.p.SendKeepalive(wire.Timespec{Sec: uint32(stamp), Nsec: uint32(stamp >> 32)}); err != nil {
		return err
	}
	return s.flush()
}

// NextAck returns the stamp of the next KEEPALIVE2_ACK.
func (s *Session) NextAck() (uint64, error) {
	for len(s.acks) == 0 {
		if err := s.read(); err != nil {
			return 0, err
		}
		// An ACK or keepalive the peer sent may have queued a reply.
		if err := s.flush(); err != nil {
			return 0, err
		}
	}
	st := s.acks[0]
	s.acks = s.acks[:copy(s.acks, s.acks[1:])]
	return st, nil
}

// Close closes the socket.
func (s *Session) Close() error { return s.C.Close() }
