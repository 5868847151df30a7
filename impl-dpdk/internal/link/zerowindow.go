package link

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Zero-window ACK rescue: a link-level workaround for a gVisor TCP stall
// (research/dpdk-gvisor.md, "Zero-window ACK deadlock").
//
// When gVisor advertises a zero receive window it drops every segment that
// fails the window test, ACK field included: a peer's pure ACK whose
// sequence number is past gVisor's RCV.NXT (the peer sent data gVisor lost
// or refused), or a retransmission carrying data. RFC 9293 §3.10.7.4 says a
// receiver with a zero window must still process valid ACKs; Linux does.
// If the application is paused until its own sends are ACKed (PauseRead
// until OnDrained, a proxy's backpressure), neither side can move again.
//
// The endpoint sees every segment gVisor sends, so it knows, per flow, when
// gVisor's last advertised window was zero and at which RCV.NXT (the ACK
// number it sent). An inbound segment on such a flow that gVisor would
// reject is rewritten into the pure ACK gVisor can accept: sequence number
// set to that RCV.NXT, payload and FIN removed (gVisor would have dropped
// them anyway; the peer retransmits them once the window opens), the ACK
// number, window and options kept, checksums recomputed. Nothing else is
// touched: flows with an open window are not even looked up.
//
// The table holds only flows whose window is zero now, at most
// maxZeroWindowFlows; beyond that a flow is not tracked and gets gVisor's
// stock behaviour.

const maxZeroWindowFlows = 4096

type flowKey struct {
	local, remote tcpip.Address
	lport, rport  uint16
}

type zeroWindows struct {
	n       atomic.Int32  // len(m), read without the lock on the fast path
	adverts atomic.Uint64 // zero-window segments gVisor sent
	mu      sync.Mutex
	m       map[flowKey]uint32 // flow -> RCV.NXT advertised with window 0
}

// parseTCP returns the IPv4 and TCP headers of an Ethernet frame.
func parseTCP(frame []byte) (header.IPv4, header.TCP, bool) {
	if len(frame) < header.EthernetMinimumSize+header.IPv4MinimumSize ||
		header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return nil, nil, false
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ihl := int(ip.HeaderLength())
	if ip.Protocol() != uint8(header.TCPProtocolNumber) || ihl < header.IPv4MinimumSize ||
		int(ip.TotalLength()) > len(ip) || int(ip.TotalLength()) < ihl+header.TCPMinimumSize ||
		ip.FragmentOffset() != 0 || ip.More() {
		return nil, nil, false
	}
	ip = ip[:ip.TotalLength()]
	tcp := header.TCP(ip[ihl:])
	if off := int(tcp.DataOffset()); off < header.TCPMinimumSize || off > len(tcp) {
		return nil, nil, false
	}
	return ip, tcp, true
}

// noteTx records the window gVisor advertises in an outbound frame.
func (z *zeroWindows) noteTx(frame []byte) {
	ip, tcp, ok := parseTCP(frame)
	if !ok {
		return
	}
	key := flowKey{local: ip.SourceAddress(), remote: ip.DestinationAddress(), lport: tcp.SourcePort(), rport: tcp.DestinationPort()}
	f := tcp.Flags()
	zero := tcp.WindowSize() == 0 && f.Contains(header.TCPFlagAck) && !f.Intersects(header.TCPFlagSyn|header.TCPFlagRst|header.TCPFlagFin)
	if zero {
		z.adverts.Add(1)
	}
	if !zero && z.n.Load() == 0 {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if zero {
		if _, ok := z.m[key]; ok || len(z.m) < maxZeroWindowFlows {
			if z.m == nil {
				z.m = make(map[flowKey]uint32)
			}
			z.m[key] = tcp.AckNumber()
		}
	} else {
		delete(z.m, key)
	}
	z.n.Store(int32(len(z.m)))
}

// rescue returns frame rewritten into an acceptable pure ACK in scratch,
// or nil when frame needs no change.
func (z *zeroWindows) rescue(frame, scratch []byte) []byte {
	if z.n.Load() == 0 {
		return nil
	}
	ip, tcp, ok := parseTCP(frame)
	if !ok {
		return nil
	}
	f := tcp.Flags()
	if !f.Contains(header.TCPFlagAck) || f.Intersects(header.TCPFlagSyn|header.TCPFlagRst) {
		return nil
	}
	key := flowKey{local: ip.DestinationAddress(), remote: ip.SourceAddress(), lport: tcp.DestinationPort(), rport: tcp.SourcePort()}
	z.mu.Lock()
	rcvNxt, tracked := z.m[key]
	z.mu.Unlock()
	if !tracked {
		return nil
	}
	hdr := int(tcp.DataOffset())
	payload := len(tcp) - hdr
	if payload == 0 && !f.Contains(header.TCPFlagFin) && tcp.SequenceNumber() == rcvNxt {
		return nil // gVisor accepts it as it is
	}
	ihl := int(ip.HeaderLength())
	n := header.EthernetMinimumSize + ihl + hdr
	if n > len(scratch) {
		return nil
	}
	out := scratch[:n]
	copy(out, frame[:n])
	oip := header.IPv4(out[header.EthernetMinimumSize:])
	oip.SetTotalLength(uint16(ihl + hdr))
	oip.SetChecksum(0)
	oip.SetChecksum(^oip.CalculateChecksum())
	otcp := header.TCP(oip[ihl:])
	otcp.SetSequenceNumber(rcvNxt)
	otcp.SetFlags(uint8(f &^ (header.TCPFlagFin | header.TCPFlagPsh | header.TCPFlagUrg)))
	otcp.SetChecksum(0)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, oip.SourceAddress(), oip.DestinationAddress(), uint16(hdr))
	otcp.SetChecksum(^otcp.CalculateChecksum(xsum))
	return out
}
