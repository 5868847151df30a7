package msgr2ka

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// serveOne runs core's msgr2 server state machine (proto2) on the first
// connection l accepts, answering keepalives, until the client leaves.
// It writes its output one byte at a time half the time, so the client
// meets frames cut at every offset.
func serveOne(t *testing.T, l net.Listener, nonce uint32) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		me := wire.AddrFromNet(l.Addr(), nonce)
		me.Type = wire.AddrTypeMsgr2
		peer := wire.AddrFromNet(c.RemoteAddr(), 0)
		p, err := proto2.NewServer(proto2.ServerConfig{EntityType: wire.EntityOSD, Addrs: []wire.EntityAddr{me},
			PeerAddr: peer, GlobalID: 4100, GlobalSeq: 1, Cookie: 7})
		if err != nil {
			done <- err
			return
		}
		buf, n, writes := make([]byte, 64<<10), 0, 0
		for {
			if out := p.Output(); len(out) > 0 {
				writes++
				if writes%2 == 0 {
					for i := range out {
						if _, err := c.Write(out[i : i+1]); err != nil {
							done <- err
							return
						}
					}
				} else if _, err := c.Write(out); err != nil {
					done <- err
					return
				}
			}
			m, err := c.Read(buf[n:])
			if m == 0 && err != nil {
				done <- nil // the client hung up
				return
			}
			n += m
			for n > 0 {
				used, err := p.Receive(buf[:n])
				if err != nil {
					done <- err
					return
				}
				p.Events()
				copy(buf, buf[used:n])
				n -= used
				if used == 0 {
					break
				}
			}
		}
	}()
	return done
}

func TestKeepalivesOverMsgr2(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := serveOne(t, l, 1234)
	ap := netip.MustParseAddrPort(l.Addr().String())
	s, err := Open("v2:"+ap.String()+"/1234", wire.EntityOSD, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for stamp := uint64(1); stamp <= 50; stamp++ {
		st := stamp | stamp<<40 // both halves of the timespec
		if err := s.Keepalive2(st); err != nil {
			t.Fatal(err)
		}
		got, err := s.NextAck()
		if err != nil || got != st {
			t.Fatalf("ack %d: stamp %#x err %v, want %#x", stamp, got, err, st)
		}
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
}

func TestWrongNonceRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := serveOne(t, l, 1234)
	ap := netip.MustParseAddrPort(l.Addr().String())
	if s, err := Open("v2:"+ap.String()+"/99", wire.EntityOSD, 5*time.Second); err == nil {
		s.Close()
		t.Fatal("a server at another nonce was accepted")
	}
	if err := <-done; err == nil {
		t.Fatal("the server accepted a CLIENT_IDENT for another nonce")
	}
}

func TestFrameLen(t *testing.T) {
	// Preamble 32 + timespec 8 + crc 4.
	if FrameLen != 44 {
		t.Fatalf("FrameLen %d, want 44", FrameLen)
	}
}
