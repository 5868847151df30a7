package memengine

import (
	"net/netip"
	"sync"
)

// Network is a virtual address space shared by engines, as the loopback
// interface is shared by processes: a Dial on one engine reaches a listener
// on another engine of the same Network. All engines of a Network share one
// lock (the state of a connection's two ends is guarded together) but each
// runs its own loop.
//
// New gives each engine a private Network unless Options.Network names one;
// NewEngine puts all its engines on one process-wide Network, so the engine
// test kit can connect a client engine to a server engine.
type Network struct {
	mu        sync.Mutex
	engines   []*Engine
	listeners map[netip.AddrPort]*listener
	blackhole map[netip.AddrPort]bool
	listenPort,
	ephemeralPort uint16
}

// NewNetwork returns an empty virtual network.
func NewNetwork() *Network {
	return &Network{
		listeners:     make(map[netip.AddrPort]*listener),
		blackhole:     make(map[netip.AddrPort]bool),
		listenPort:    firstListenPort,
		ephemeralPort: firstEphemeralPort,
	}
}

// processNetwork is where NewEngine's engines live.
var processNetwork = NewNetwork()

// Settle runs every engine of the network until none has work left now
// (see Engine.Settle). Engines are settled in creation order, repeatedly,
// since one engine's work can give another work.
func (n *Network) Settle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for progressed := true; progressed; {
		progressed = false
		for _, e := range n.engines {
			if e.settleLocked() {
				progressed = true
			}
		}
	}
}

// Blackhole makes dials to addr hang, as if SYNs were dropped, until their
// timeout (DialOptions.Timeout or engine.DefaultDialTimeout, on the dialing
// engine's clock); they then end with OnClose and a *net.OpError{Op:
// "dial"} wrapping ETIMEDOUT (its Timeout method reports true). Use it to
// test connect timeouts.
func (n *Network) Blackhole(addr string) error {
	ap, err := parseAddr(addr, false)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blackhole[ap] = true
	return nil
}

func (n *Network) removeEngine(e *Engine) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, x := range n.engines {
		if x == e {
			n.engines = append(n.engines[:i], n.engines[i+1:]...)
			break
		}
	}
}

// portTaken reports whether ap conflicts with a listener: the same address,
// or a wildcard and a specific address of one family on the same port.
func (n *Network) portTaken(ap netip.AddrPort) bool {
	if n.listeners[ap] != nil || n.listeners[wildcardFor(ap)] != nil {
		return true
	}
	if ap.Addr().IsUnspecified() {
		for other := range n.listeners {
			if other.Port() == ap.Port() && other.Addr().Is4() == ap.Addr().Is4() {
				return true
			}
		}
	}
	return false
}

// freeListenPort picks the next port no listener of any address uses.
func (n *Network) freeListenPort() (uint16, bool) {
	for range lastListenPort - firstListenPort + 1 {
		p := n.listenPort
		n.listenPort++
		if n.listenPort > lastListenPort {
			n.listenPort = firstListenPort
		}
		used := false
		for other := range n.listeners {
			if other.Port() == p {
				used = true
				break
			}
		}
		if !used {
			return p, true
		}
	}
	return 0, false
}

func (n *Network) nextEphemeralPort() uint16 {
	p := n.ephemeralPort
	n.ephemeralPort++
	if n.ephemeralPort > lastEphemeralPort {
		n.ephemeralPort = firstEphemeralPort
	}
	return p
}

// lookupListener finds the listener a dial to ap reaches.
func (n *Network) lookupListener(ap netip.AddrPort) *listener {
	if l := n.listeners[ap]; l != nil {
		return l
	}
	return n.listeners[wildcardFor(ap)]
}
