package dpdkengine

import (
	"sync/atomic"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
)

// pipePort is one end of an in-memory Ethernet wire between two endpoints
// in one process: the test double for a DPDK port (a link.Port). Each
// direction is a bounded ring (a frame that does not fit is dropped and counted, like a
// full rx ring). Loss on purpose is the endpoint's (Endpoint.SetLoss), as
// on a real port.
type pipePort struct {
	mac  [6]byte
	rx   chan []byte
	peer *pipePort

	Overflow atomic.Uint64
}

// newPipe returns two connected ends with rings of depth frames each.
func newPipe(depth int) (*pipePort, *pipePort) {
	a := &pipePort{mac: [6]byte{0x02, 0, 0, 0, 0, 0x0a}, rx: make(chan []byte, depth)}
	b := &pipePort{mac: [6]byte{0x02, 0, 0, 0, 0, 0x0b}, rx: make(chan []byte, depth)}
	a.peer, b.peer = b, a
	return a, b
}

func (p *pipePort) MAC() [6]byte { return p.mac }

func (p *pipePort) Rx(fn func(frame []byte)) int {
	for n := 0; n < link.Burst; n++ {
		select {
		case f := <-p.rx:
			fn(f)
		default:
			return n
		}
	}
	return link.Burst
}

func (p *pipePort) Tx(n int, fill func(i int, buf []byte) int) int {
	for i := 0; i < n; i++ {
		buf := make([]byte, 2048)
		l := fill(i, buf)
		if l == 0 {
			continue
		}
		select {
		case p.peer.rx <- buf[:l]:
		default:
			p.Overflow.Add(1)
		}
	}
	return n
}
