package msgr1

import (
	"fmt"
	"net"
	"time"
)

// Listener is a raw msgr1 acceptor for tests where the engine is the
// connector. Each accepted socket is driven by the test step by step.
type Listener struct {
	net.Listener
	// Nonce goes into Bound(), the address tests normally announce.
	Nonce uint32
}

// ListenHost is the address Listen binds: 127.0.0.1, or the host address
// of the suite's DPDK topology (harness.HostIP), which engines on a
// userspace stack can reach.
var ListenHost = "127.0.0.1"

// Listen binds ListenHost:0.
func Listen() (*Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ListenHost, "0"))
	if err != nil {
		return nil, err
	}
	return &Listener{Listener: ln, Nonce: 0x5eed}, nil
}

// Bound returns the real bound address as a legacy address.
func (l *Listener) Bound() Addr {
	return AddrFrom(l.Addr().(*net.TCPAddr), l.Nonce)
}

// AcceptConn waits up to d for a connection.
func (l *Listener) AcceptConn(d time.Duration) (*Conn, error) {
	if tl, ok := l.Listener.(*net.TCPListener); ok {
		_ = tl.SetDeadline(time.Now().Add(d))
	}
	c, err := l.Accept()
	if err != nil {
		return nil, fmt.Errorf("accept within %v: %w", d, err)
	}
	return NewConn(c), nil
}

// SendServerHello writes banner + announce + the peer's socket address
// (nonce 0), 281 bytes (§5 acceptor step 1).
func (c *Conn) SendServerHello(announce Addr) error {
	b := append([]byte(Banner), announce.Append(nil)...)
	b = AddrFrom(c.RemoteAddr().(*net.TCPAddr), 0).Append(b)
	return c.Send(b)
}

// ReadClientHello reads the connector's banner and address (145 bytes).
func (c *Conn) ReadClientHello() (Addr, error) {
	b, err := c.ReadFull(len(Banner) + AddrLen)
	if err != nil {
		return Addr{}, fmt.Errorf("read client banner+addr: %w", err)
	}
	if string(b[:9]) != Banner {
		return Addr{}, fmt.Errorf("client banner %q", b[:9])
	}
	return DecodeAddr(b[9:])
}

// ReadConnect reads one connect message and its authorizer.
func (c *Conn) ReadConnect() (Connect, []byte, error) {
	b, err := c.ReadFull(ConnectLen)
	if err != nil {
		return Connect{}, nil, fmt.Errorf("read connect: %w", err)
	}
	m, _ := DecodeConnect(b)
	if m.AuthLen > 4096 {
		return m, nil, fmt.Errorf("connect authorizer_len %d too large", m.AuthLen)
	}
	auth, err := c.ReadFull(int(m.AuthLen))
	return m, auth, err
}

// SendReply writes a connect reply; for SEQ it appends inSeq.
func (c *Conn) SendReply(r ConnectReply, inSeq uint64) error {
	b := r.Append(nil)
	if r.Tag == TagSeq {
		b = append(b, leU64(inSeq)...)
	}
	return c.Send(b)
}
