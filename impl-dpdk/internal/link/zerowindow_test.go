package link

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	localIP  = tcpip.AddrFrom4([4]byte{192, 0, 2, 2})
	remoteIP = tcpip.AddrFrom4([4]byte{192, 0, 2, 1})
)

// frame builds an Ethernet/IPv4/TCP frame with valid checksums.
func frame(src, dst tcpip.Address, sport, dport uint16, seq, ack uint32, flags header.TCPFlags, wnd uint16, payload int) []byte {
	const ihl, thl = header.IPv4MinimumSize, header.TCPMinimumSize
	b := make([]byte, header.EthernetMinimumSize+ihl+thl+payload)
	header.Ethernet(b).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(ihl + thl + payload), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip[ihl:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack, DataOffset: thl, Flags: flags, WindowSize: wnd})
	for i := range payload {
		tcp[thl+i] = byte(i)
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(thl+payload))
	xsum = checksum.Checksum(tcp[thl:], xsum)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

func validChecksums(t *testing.T, f []byte) {
	t.Helper()
	ip, tcp, ok := parseTCP(f)
	if !ok {
		t.Fatal("rewritten frame does not parse")
	}
	if !ip.IsChecksumValid() {
		t.Error("IPv4 checksum invalid")
	}
	payload := tcp[tcp.DataOffset():]
	if !tcp.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress(), checksum.Checksum(payload, 0), uint16(len(payload))) {
		t.Error("TCP checksum invalid")
	}
}

// TestAckRescue checks which inbound segments the rescue rewrites once
// gVisor (the local side) has advertised a zero window at RCV.NXT 1000.
func TestAckRescue(t *testing.T) {
	const rcvNxt = 1000
	ack := header.TCPFlagAck
	for _, tc := range []struct {
		name    string
		in      []byte
		rescued bool
	}{
		{"pure ACK past RCV.NXT", frame(remoteIP, localIP, 80, 5000, 1500, 77, ack, 100, 0), true},
		{"retransmission with data at RCV.NXT", frame(remoteIP, localIP, 80, 5000, rcvNxt, 77, ack|header.TCPFlagPsh, 100, 1000), true},
		{"FIN at RCV.NXT", frame(remoteIP, localIP, 80, 5000, rcvNxt, 77, ack|header.TCPFlagFin, 100, 0), true},
		{"pure ACK at RCV.NXT (already acceptable)", frame(remoteIP, localIP, 80, 5000, rcvNxt, 77, ack, 100, 0), false},
		{"RST", frame(remoteIP, localIP, 80, 5000, 1500, 77, ack|header.TCPFlagRst, 0, 0), false},
		{"other flow", frame(remoteIP, localIP, 81, 5000, 1500, 77, ack, 100, 0), false},
		{"no ACK flag", frame(remoteIP, localIP, 80, 5000, 1500, 0, header.TCPFlagPsh, 100, 10), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var z zeroWindows
			z.noteTx(frame(localIP, remoteIP, 5000, 80, 77, rcvNxt, ack, 0, 0))
			var scratch [2048]byte
			out := z.rescue(tc.in, scratch[:])
			if (out != nil) != tc.rescued {
				t.Fatalf("rescued = %v, want %v", out != nil, tc.rescued)
			}
			if out == nil {
				return
			}
			validChecksums(t, out)
			_, tcp, _ := parseTCP(out)
			_, orig, _ := parseTCP(tc.in)
			if tcp.SequenceNumber() != rcvNxt || tcp.AckNumber() != orig.AckNumber() || tcp.WindowSize() != orig.WindowSize() {
				t.Errorf("seq/ack/wnd = %d/%d/%d, want %d/%d/%d", tcp.SequenceNumber(), tcp.AckNumber(), tcp.WindowSize(), rcvNxt, orig.AckNumber(), orig.WindowSize())
			}
			if len(tcp) != int(tcp.DataOffset()) || tcp.Flags().Intersects(header.TCPFlagFin|header.TCPFlagPsh) {
				t.Errorf("rescued segment keeps payload (%d bytes) or FIN/PSH (%v)", len(tcp)-int(tcp.DataOffset()), tcp.Flags())
			}
		})
	}
}

// TestAckRescueWindowReopens: once gVisor advertises a non-zero window the
// flow is forgotten and segments pass untouched.
func TestAckRescueWindowReopens(t *testing.T) {
	var z zeroWindows
	z.noteTx(frame(localIP, remoteIP, 5000, 80, 77, 1000, header.TCPFlagAck, 0, 0))
	z.noteTx(frame(localIP, remoteIP, 5000, 80, 77, 1000, header.TCPFlagAck, 512, 0))
	var scratch [2048]byte
	if out := z.rescue(frame(remoteIP, localIP, 80, 5000, 1500, 77, header.TCPFlagAck, 100, 0), scratch[:]); out != nil {
		t.Fatal("segment rewritten after the window reopened")
	}
	if z.n.Load() != 0 {
		t.Fatalf("table holds %d flows, want 0", z.n.Load())
	}
}

// FuzzAckRescue feeds arbitrary frames to the parser and the rescue: no
// panic, and any rewrite is a well-formed frame with valid checksums.
func FuzzAckRescue(f *testing.F) {
	f.Add(frame(remoteIP, localIP, 80, 5000, 1500, 77, header.TCPFlagAck, 100, 0))
	f.Add(frame(remoteIP, localIP, 80, 5000, 1000, 77, header.TCPFlagAck|header.TCPFlagFin, 100, 33))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		var z zeroWindows
		z.noteTx(frame(localIP, remoteIP, 5000, 80, 77, 1000, header.TCPFlagAck, 0, 0))
		z.noteTx(in)
		var scratch [2048]byte
		if out := z.rescue(in, scratch[:]); out != nil {
			if _, _, ok := parseTCP(out); !ok {
				t.Fatal("rewritten frame does not parse")
			}
		}
	})
}
