package proto2

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
	"github.com/netmodels/netmodels/core/peers"
)

// TestCephMonLive drives our client state machine over a plain net.Conn
// to a real ceph-mon 16.2 on its v2 port: handshake, KEEPALIVE2 round
// trip and one MESSAGE round trip (MMonGetVersion → MMonGetVersionReply),
// with the socket's reads cut wherever the kernel cuts them.
func TestCephMonLive(t *testing.T) {
	mon := peers.StartCephMonV2T(t)
	target, err := wire.ParseTypedAddr("v2:" + mon.V2Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	me := wire.NewEntityAddr(netipZero(), 0x4321)
	me.Type = wire.AddrTypeAny
	c, err := NewClient(ClientConfig{EntityType: wire.EntityClient, AuthID: "admin", EntityNum: -1,
		PeerType: wire.EntityMon, Target: target, Addrs: []wire.EntityAddr{me}, GlobalSeq: 1, Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp4", mon.V2Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A bound on a hung peer, not a timing assertion.
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	ts := wire.Timespec{Sec: 1700000000, Nsec: 987654321}
	front := binary.LittleEndian.AppendUint64(nil, 7) // handle
	front = binary.LittleEndian.AppendUint32(front, uint32(len("osdmap")))
	front = append(front, "osdmap"...)
	getVersion := wire2.Message{Header: wire2.MsgHeader2{Tid: 43, Type: 19, Priority: 127, Version: 1, CompatVersion: 1, Flags: 1}, Front: front}

	var peer Peer
	gotAck, gotReply := false, false
	left := pumpConn(t, conn, c, func(e Event) bool {
		switch e.Kind {
		case EventEstablished:
			peer = e.Peer
			if err := c.SendKeepalive(ts); err != nil {
				t.Fatal(err)
			}
			if seq, err := c.SendMessage(getVersion); err != nil || seq != 1 {
				t.Fatalf("SendMessage: %d, %v", seq, err)
			}
		case EventKeepaliveAck:
			gotAck = e.Stamp == ts
		case EventMessage:
			m := e.Message
			if e.Seq != 1 || m.Header.Type != 20 || m.Header.Tid != 43 || m.Header.AckSeq != 1 || len(m.Front) < 16 ||
				binary.LittleEndian.Uint64(m.Front) != 7 || binary.LittleEndian.Uint64(m.Front[8:]) < 1 {
				t.Fatalf("MMonGetVersionReply %+v front %x", m.Header, m.Front)
			}
			gotReply = true
		}
		return gotAck && gotReply
	})
	if peer.GlobalID == 0 || peer.Name.Type != wire.EntityMon || !peer.Lossy || len(peer.Addrs) != 2 ||
		!peer.Addrs[0].Equal(target) || peer.Features&wire2.FeatureMsgAddr2 == 0 || peer.AddrForMe.IP.String() != "127.0.0.1" {
		t.Errorf("peer %+v", peer)
	}
	if len(left) != 0 {
		t.Errorf("%d bytes left over: %x", len(left), left)
	}
	if !mon.Alive() {
		t.Fatal("ceph-mon died")
	}
}

// pumpConn runs c over a real socket, reads cut wherever the kernel cuts
// them, until onEvent says it has seen enough (later events are not
// looked at): it writes Output, reads, and feeds Receive what is not
// consumed yet. It returns the bytes left unconsumed; a fault or a socket
// error fails the test.
func pumpConn(t testing.TB, conn net.Conn, c *Conn, onEvent func(Event) (done bool)) []byte {
	t.Helper()
	var in []byte
	var buf [4096]byte
	for {
		if out := c.Output(); len(out) > 0 {
			if _, err := conn.Write(out); err != nil {
				t.Fatalf("write in %s: %v", c.State(), err)
			}
		}
		n, err := conn.Read(buf[:])
		if err != nil {
			t.Fatalf("read in %s: %v", c.State(), err)
		}
		in = append(in, buf[:n]...)
		for {
			used, err := c.Receive(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[used:]
			for _, e := range c.Events() {
				if onEvent(e) {
					return in
				}
			}
			if used == 0 {
				break
			}
		}
	}
}
