package dpdkengine

import (
	"fmt"
	"net"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// nicID is the only NIC of a stack: one DPDK port.
const nicID tcpip.NICID = 1

// Netstack is one gVisor stack with one NIC over a link endpoint: the
// userspace TCP/IP stack every Engine of the process shares (there is one
// EAL, hence one port and one stack, per process).
type Netstack struct {
	Stack *stack.Stack
	// Addr is the stack's IPv4 address.
	Addr tcpip.Address
}

// NewNetstack builds a stack over ep with addr (an IPv4 prefix such as
// 192.0.2.2/24) and gateway (may be invalid: no default route).
//
// HandleLocal is off on purpose, and a host route sends traffic for our
// own address to the gateway: a connection from this stack to itself (the
// engine kit dials its own listener) then leaves through the port, is
// forwarded back by the peer (the kernel side of the tap, with
// ip_forward=1) and comes in through the port again. Both directions of
// every kit connection therefore cross DPDK, instead of gVisor's internal
// loopback hiding the data path.
func NewNetstack(ep stack.LinkEndpoint, addr netip.Prefix, gateway netip.Addr) (*Netstack, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("dpdk: address %s: only IPv4 is supported", addr)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcpFactory()},
		HandleLocal:        false,
	})
	if err := s.CreateNIC(nicID, ep); err != nil {
		return nil, fmt.Errorf("dpdk: create NIC: %s", err)
	}
	local := tcpip.AddrFrom4(addr.Addr().As4())
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: local, PrefixLen: addr.Bits()},
	}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("dpdk: add address %s: %s", addr, err)
	}
	onLink := tcpip.Route{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}
	routes := []tcpip.Route{onLink}
	if gateway.IsValid() { // first match wins: ourselves via gw, on-link, default via gw
		gw := tcpip.AddrFrom4(gateway.As4())
		self, _ := tcpip.NewSubnet(local, tcpip.MaskFromBytes([]byte{255, 255, 255, 255}))
		routes = []tcpip.Route{{Destination: self, Gateway: gw, NIC: nicID}, onLink, {Destination: header.IPv4EmptySubnet, Gateway: gw, NIC: nicID}}
	}
	s.SetRouteTable(routes)
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	// Receive-buffer auto-tuning, as the kernel's tcp_moderate_rcvbuf, up to
	// the kernel's default tcp_rmem maximum (6 MiB). Without it the window
	// stays at half gVisor's 1 MiB default: 0.165 Gbit/s over a 20 ms path
	// where the kernel engines move 0.67 (spec/engine.md §18).
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	rcvBuf := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 4 << 20, Max: 16 << 20}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcvBuf)
	return &Netstack{Stack: s, Addr: local}, nil
}

// fullAddr resolves "host:port" for this stack. Loopback and unspecified
// hosts mean the stack's own address: a DPDK port's stack has no loopback
// interface, and the kit binds and dials 127.0.0.1.
func (ns *Netstack) fullAddr(hostport string) (tcpip.FullAddress, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return tcpip.FullAddress{}, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port))
	if err != nil {
		return tcpip.FullAddress{}, err
	}
	ip := ap.Addr().Unmap()
	if !ip.Is4() {
		return tcpip.FullAddress{}, fmt.Errorf("%s: only IPv4 is supported", hostport)
	}
	a := tcpip.AddrFrom4(ip.As4())
	if ip.IsLoopback() || ip.IsUnspecified() {
		a = ns.Addr
	}
	return tcpip.FullAddress{NIC: nicID, Addr: a, Port: ap.Port()}, nil
}

func tcpAddr(fa tcpip.FullAddress) *net.TCPAddr {
	if fa.Addr.BitLen() == 0 {
		return &net.TCPAddr{IP: net.IPv4zero, Port: int(fa.Port)}
	}
	b := fa.Addr.As4()
	return &net.TCPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]), Port: int(fa.Port)}
}

// debugTCPProbe, when set before the runtime starts (tests only), is
// called by gVisor with the endpoint's full TCP state after each segment.
var debugTCPProbe tcp.TCPProbeFunc

func tcpFactory() stack.TransportProtocolFactory {
	if debugTCPProbe != nil {
		return tcp.NewProtocolProbe(debugTCPProbe)
	}
	return tcp.NewProtocol
}
