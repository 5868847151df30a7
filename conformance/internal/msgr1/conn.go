package msgr1

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// MaxSection bounds what the suite itself will allocate for one received
// message section; a peer that claims more is reported as an error instead
// of being believed (the suite follows the rule it tests).
const MaxSection = 64 << 20

// Frame is one OPENED-state frame read from a peer.
type Frame struct {
	Tag byte
	Msg *Message // TagMsg
	Seq uint64   // TagAck
	TS  Timespec // TagKeepalive2, TagKeepalive2Ack
}

// Conn is a raw msgr1 socket driven step by step by a test. It knows only
// what the test tells it (footer form, timeouts); it has no state machine.
type Conn struct {
	net.Conn
	r         *bufio.Reader
	OldFooter bool // session without MSG_AUTH: 13-byte footers
	// NoCRC accepts header crcs the peer left unset (a peer running with
	// --crc none, msgr-v1-wire §9.2).
	NoCRC   bool
	Timeout time.Duration
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &Conn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), Timeout: 5 * time.Second}
}

// Dial connects to addr.
func Dial(addr string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return NewConn(c), nil
}

func (c *Conn) deadline() {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
}

// ReadFull reads exactly n bytes within the conn's timeout.
func (c *Conn) ReadFull(n int) ([]byte, error) {
	c.deadline()
	b := make([]byte, n)
	_, err := io.ReadFull(c.r, b)
	return b, err
}

// Write writes all of b.
func (c *Conn) Send(b []byte) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := c.Conn.Write(b)
	return err
}

// Buffered reports bytes already read from the socket but not consumed.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// ReadU64 reads a little-endian u64.
func (c *Conn) ReadU64() (uint64, error) {
	b, err := c.ReadFull(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// ReadServerHello reads the acceptor's 281-byte banner + addresses.
func (c *Conn) ReadServerHello() (server, me Addr, err error) {
	b, err := c.ReadFull(ServerHelloLen)
	if err != nil {
		return Addr{}, Addr{}, fmt.Errorf("read banner+addrs: %w", err)
	}
	if string(b[:len(Banner)]) != Banner {
		return Addr{}, Addr{}, fmt.Errorf("banner %q, want %q", b[:len(Banner)], Banner)
	}
	if server, err = DecodeAddr(b[9:]); err != nil {
		return server, me, fmt.Errorf("server addr: %w", err)
	}
	if me, err = DecodeAddr(b[9+AddrLen:]); err != nil {
		return server, me, fmt.Errorf("peer_addr_for_me: %w", err)
	}
	return server, me, nil
}

// ReadReply reads a connect reply, its authorizer reply, and for SEQ the
// server's in_seq.
func (c *Conn) ReadReply() (ConnectReply, uint64, error) {
	b, err := c.ReadFull(ConnectReplyLen)
	if err != nil {
		return ConnectReply{}, 0, fmt.Errorf("read connect_reply: %w", err)
	}
	r, _ := DecodeConnectReply(b)
	if r.AuthLen > 4096 {
		return r, 0, fmt.Errorf("connect_reply authorizer_len %d too large", r.AuthLen)
	}
	if r.AuthLen > 0 {
		if _, err := c.ReadFull(int(r.AuthLen)); err != nil {
			return r, 0, fmt.Errorf("read authorizer reply: %w", err)
		}
	}
	var inSeq uint64
	if r.Tag == TagSeq {
		if inSeq, err = c.ReadU64(); err != nil {
			return r, 0, fmt.Errorf("read SEQ in_seq: %w", err)
		}
	}
	return r, inSeq, nil
}

// ErrUnknownTag is returned by ReadFrame for a tag outside the OPENED set.
var ErrUnknownTag = errors.New("msgr1: unknown tag")

// ReadFrame reads one OPENED-state frame.
func (c *Conn) ReadFrame() (Frame, error) {
	b, err := c.ReadFull(1)
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Tag: b[0]}
	switch f.Tag {
	case TagMsg:
		hb, err := c.ReadFull(HeaderLen)
		if err != nil {
			return f, fmt.Errorf("read header: %w", err)
		}
		h, ok, _ := DecodeHeader(hb)
		if !ok && !(c.NoCRC && h.CRC == 0) {
			return f, fmt.Errorf("msgr1: bad header crc from peer (seq %d type %#x)", h.Seq, h.Type)
		}
		if h.FrontLen > MaxSection || h.MiddleLen > MaxSection || h.DataLen > MaxSection {
			return f, fmt.Errorf("msgr1: peer claims sections %d/%d/%d over the suite's limit", h.FrontLen, h.MiddleLen, h.DataLen)
		}
		m := &Message{Header: h}
		if m.Front, err = c.ReadFull(int(h.FrontLen)); err != nil {
			return f, err
		}
		if m.Middle, err = c.ReadFull(int(h.MiddleLen)); err != nil {
			return f, err
		}
		if m.Data, err = c.ReadFull(int(h.DataLen)); err != nil {
			return f, err
		}
		n := FooterLen
		if c.OldFooter {
			n = FooterOldLen
		}
		fb, err := c.ReadFull(n)
		if err != nil {
			return f, fmt.Errorf("read footer: %w", err)
		}
		m.Footer, _ = DecodeFooter(fb, c.OldFooter)
		f.Msg = m
	case TagAck:
		if f.Seq, err = c.ReadU64(); err != nil {
			return f, err
		}
	case TagKeepalive2, TagKeepalive2Ack:
		tb, err := c.ReadFull(8)
		if err != nil {
			return f, err
		}
		f.TS = Timespec{binary.LittleEndian.Uint32(tb), binary.LittleEndian.Uint32(tb[4:])}
	case TagKeepalive, TagClose:
	default:
		return f, fmt.Errorf("%w %d", ErrUnknownTag, f.Tag)
	}
	return f, nil
}

// ExpectClosed waits up to d for the peer to close the connection (EOF or
// reset), discarding whatever it sends first. It returns the bytes seen
// before the close, and an error if the connection was still open at the
// deadline.
func (c *Conn) ExpectClosed(d time.Duration) ([]byte, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	var seen []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.r.Read(buf)
		if len(seen) < 1<<20 {
			seen = append(seen, buf[:n]...)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return seen, fmt.Errorf("connection still open after %v", d)
			}
			return seen, nil // EOF or RST: closed
		}
	}
}
