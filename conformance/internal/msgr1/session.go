package msgr1

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// ClientOpts describes how a raw client introduces itself (§5, §6.1).
type ClientOpts struct {
	HostType uint32 // default CLIENT
	PeerType uint32 // default OSD (msgr-server's default name is osd.0)
	Features uint64 // default FeaturesAll
	Nonce    uint32 // default random
	Announce *Addr  // address sent after the banner; default 127.0.0.1:0/Nonce
	// ChooseAnnounce, when set, picks the announced address after the
	// server's hello was read (race tests order their nonce against the
	// server's).
	ChooseAnnounce func(server Addr) Addr
	GlobalSeq      uint32 // default 1
	ConnectSeq     uint32
	Proto          *uint32 // default ProtocolFor(HostType, PeerType)
	Flags          uint8
	InSeq          uint64 // value written in the SEQ exchange
	Authorizer     []byte // with AuthProtocol
	AuthProto      uint32
}

func (o *ClientOpts) defaults() {
	if o.HostType == 0 {
		o.HostType = EntityClient
	}
	if o.PeerType == 0 {
		o.PeerType = EntityOSD
	}
	if o.Features == 0 {
		o.Features = FeaturesAll
	}
	if o.Nonce == 0 {
		o.Nonce = rand.Uint32() | 1
	}
	if o.GlobalSeq == 0 {
		o.GlobalSeq = 1
	}
}

// Session is a raw client connection after (or during) the handshake.
type Session struct {
	*Conn
	Opts            ClientOpts
	Server          Addr // paddr announced by the server
	MeAsSeen        Addr // peer_addr_for_me
	Replies         []ConnectReply
	Reply           ConnectReply // last reply
	ServerIn        uint64       // in_seq the server sent with SEQ
	Opened          bool
	OutSeq          uint64
	SessionFeatures uint64
}

// Start dials addr, sends the banner, reads the 281-byte server hello and
// writes our address. It stops before the first connect message.
func Start(addr string, o ClientOpts) (*Session, error) {
	o.defaults()
	c, err := Dial(addr)
	if err != nil {
		return nil, err
	}
	s := &Session{Conn: c, Opts: o}
	if err := c.Send([]byte(Banner)); err != nil {
		c.Close()
		return nil, fmt.Errorf("write banner: %w", err)
	}
	if s.Server, s.MeAsSeen, err = c.ReadServerHello(); err != nil {
		c.Close()
		return nil, err
	}
	me := Addr{Nonce: o.Nonce, Family: 2, IP: net.IPv4(127, 0, 0, 1).To4()}
	if o.Announce != nil {
		me = *o.Announce
	}
	if o.ChooseAnnounce != nil {
		me = o.ChooseAnnounce(s.Server)
		s.Opts.Announce = &me
		s.Opts.ChooseAnnounce = nil
	}
	if err := c.Send(me.Append(nil)); err != nil {
		c.Close()
		return nil, fmt.Errorf("write addr: %w", err)
	}
	return s, nil
}

// ConnectMsg builds the connect message from the options.
func (s *Session) ConnectMsg() Connect {
	o := s.Opts
	proto := ProtocolFor(o.HostType, o.PeerType)
	if o.Proto != nil {
		proto = *o.Proto
	}
	return Connect{
		Features: o.Features, HostType: o.HostType, GlobalSeq: o.GlobalSeq,
		ConnectSeq: o.ConnectSeq, ProtocolVersion: proto,
		AuthProtocol: o.AuthProto, AuthLen: uint32(len(o.Authorizer)), Flags: o.Flags,
	}
}

// SendConnect writes one connect message and reads the reply (and, for SEQ,
// the server's in_seq). It does not write our in_seq.
func (s *Session) SendConnect() (ConnectReply, error) {
	b := s.ConnectMsg().Append(nil)
	b = append(b, s.Opts.Authorizer...)
	if err := s.Send(b); err != nil {
		return ConnectReply{}, fmt.Errorf("write connect: %w", err)
	}
	r, in, err := s.ReadReply()
	if err != nil {
		return r, err
	}
	s.Replies = append(s.Replies, r)
	s.Reply = r
	if r.Tag == TagSeq {
		s.ServerIn = in
	}
	return r, nil
}

// Negotiate sends connects, following RETRY_GLOBAL, RETRY_SESSION and
// RESETSESSION the way Ceph's connector does (§11.1), until READY/SEQ or
// another tag. On READY/SEQ it completes the SEQ exchange and marks the
// session open.
func (s *Session) Negotiate() error {
	for i := 0; i < 8; i++ {
		r, err := s.SendConnect()
		if err != nil {
			return err
		}
		switch r.Tag {
		case TagRetryGlobal:
			s.Opts.GlobalSeq = max(s.Opts.GlobalSeq, r.GlobalSeq) + 1
			continue
		case TagRetrySession:
			if r.ConnectSeq <= s.Opts.ConnectSeq {
				return fmt.Errorf("RETRY_SESSION cseq %d not above ours %d (§11.1 step 4)", r.ConnectSeq, s.Opts.ConnectSeq)
			}
			s.Opts.ConnectSeq = r.ConnectSeq
			continue
		case TagResetSession:
			s.Opts.ConnectSeq = 0
			continue
		case TagReady, TagSeq:
			return s.finish(r)
		default:
			return fmt.Errorf("connect answered %s", r)
		}
	}
	return fmt.Errorf("no READY/SEQ after 8 connect attempts: %v", s.Replies)
}

func (s *Session) finish(r ConnectReply) error {
	if r.ConnectSeq != s.Opts.ConnectSeq+1 {
		return fmt.Errorf("%s: connect_seq %d, want ours+1 = %d (§11.1 step 5)", TagName(r.Tag), r.ConnectSeq, s.Opts.ConnectSeq+1)
	}
	if r.Tag == TagSeq {
		if err := s.Send(leU64(s.Opts.InSeq)); err != nil {
			return fmt.Errorf("write in_seq: %w", err)
		}
	}
	s.Opened = true
	s.SessionFeatures = r.Features & s.Opts.Features
	s.OldFooter = s.SessionFeatures&FeatureMsgAuth == 0
	return nil
}

// Open is Start + Negotiate.
func Open(addr string, o ClientOpts) (*Session, error) {
	s, err := Start(addr, o)
	if err != nil {
		return nil, err
	}
	if err := s.Negotiate(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func leU64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// NewEcho builds a sealed ECHO message with the next sequence number.
func (s *Session) NewEcho(tid uint64, front, middle, data []byte) Message {
	s.OutSeq++
	return Message{
		Header: Header{Seq: s.OutSeq, Tid: tid, Type: TypeEcho, Priority: PriorityDefault,
			Version: 1, Compat: 1, SrcType: uint8(s.Opts.HostType), SrcNum: -1},
		Front: front, Middle: middle, Data: data,
	}.Seal()
}

// SendMsg writes one message frame as is.
func (s *Session) SendMsg(m Message) error { return s.Send(m.AppendFrame(nil, s.OldFooter)) }

// NextMsg reads frames until a MSG arrives, answering nothing; ACKs and
// keepalive acks seen on the way are returned in skipped.
func (s *Session) NextMsg() (*Message, []Frame, error) {
	var skipped []Frame
	for {
		f, err := s.ReadFrame()
		if err != nil {
			return nil, skipped, err
		}
		if f.Tag == TagMsg {
			return f.Msg, skipped, nil
		}
		if f.Tag == TagClose {
			return nil, skipped, fmt.Errorf("peer sent CLOSE")
		}
		skipped = append(skipped, f)
	}
}

// Echo sends one ECHO and waits for its reply, checking it is
// byte-identical with the same tid (CONTRACT.md echo service).
func (s *Session) Echo(tid uint64, front, middle, data []byte) (*Message, error) {
	if err := s.SendMsg(s.NewEcho(tid, front, middle, data)); err != nil {
		return nil, fmt.Errorf("send echo tid %d: %w", tid, err)
	}
	m, _, err := s.NextMsg()
	if err != nil {
		return nil, fmt.Errorf("await echo reply tid %d: %w", tid, err)
	}
	return m, CheckEchoReply(m, tid, front, middle, data)
}

// CheckEchoReply verifies an ECHO_REPLY against the request content.
func CheckEchoReply(m *Message, tid uint64, front, middle, data []byte) error {
	if err := m.Verify(); err != nil {
		return fmt.Errorf("echo reply seq %d: %w", m.Header.Seq, err)
	}
	if m.Header.Type != TypeEchoReply {
		return fmt.Errorf("reply type %#x, want ECHO_REPLY %#x", m.Header.Type, TypeEchoReply)
	}
	if m.Header.Tid != tid {
		return fmt.Errorf("reply tid %d, want %d", m.Header.Tid, tid)
	}
	if !eq(m.Front, front) || !eq(m.Middle, middle) || !eq(m.Data, data) {
		return fmt.Errorf("reply sections %d/%d/%d bytes differ from request %d/%d/%d",
			len(m.Front), len(m.Middle), len(m.Data), len(front), len(middle), len(data))
	}
	return nil
}

func eq(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Keepalive2 sends KEEPALIVE2 with ts and waits for the matching ack.
func (s *Session) Keepalive2(ts Timespec) error {
	if err := s.Send(AppendKeepalive2(nil, ts, false)); err != nil {
		return err
	}
	for {
		f, err := s.ReadFrame()
		if err != nil {
			return fmt.Errorf("await KEEPALIVE2_ACK: %w", err)
		}
		if f.Tag == TagKeepalive2Ack {
			if f.TS != ts {
				return fmt.Errorf("KEEPALIVE2_ACK carries %v, sent %v", f.TS, ts)
			}
			return nil
		}
	}
}

// Now returns the current wall clock as a Timespec.
func Now() Timespec {
	t := time.Now()
	return Timespec{uint32(t.Unix()), uint32(t.Nanosecond())}
}
