package link

import (
	"sync"
	"sync/atomic"
)

// PipePort is one end of an in-memory Ethernet wire between two endpoints
// in one process: the test double for a DPDK port. Each direction is a
// bounded ring (a frame that does not fit is dropped and counted, like a
// full rx ring) and can lose frames on purpose, deterministically, to
// exercise TCP recovery through the real link endpoint.
type PipePort struct {
	mac  [6]byte
	rx   chan []byte
	peer *PipePort

	mu       sync.Mutex
	lossPerM uint32 // frames lost per million sent by this end
	rng      uint64 // xorshift state: the loss pattern is reproducible

	Lost, Overflow atomic.Uint64
}

// NewPipe returns two connected ends with rings of depth frames each.
func NewPipe(depth int) (*PipePort, *PipePort) {
	a := &PipePort{mac: [6]byte{0x02, 0, 0, 0, 0, 0x0a}, rx: make(chan []byte, depth), rng: 0x9e3779b97f4a7c15}
	b := &PipePort{mac: [6]byte{0x02, 0, 0, 0, 0, 0x0b}, rx: make(chan []byte, depth), rng: 0xd1b54a32d192ed03}
	a.peer, b.peer = b, a
	return a, b
}

// SetLoss makes this end drop perMillion of the frames it sends, in a
// pseudo-random but fixed pattern.
func (p *PipePort) SetLoss(perMillion uint32) {
	p.mu.Lock()
	p.lossPerM = perMillion
	p.mu.Unlock()
}

func (p *PipePort) MAC() [6]byte { return p.mac }

func (p *PipePort) Rx(fn func(frame []byte)) int {
	for n := 0; n < Burst; n++ {
		select {
		case f := <-p.rx:
			fn(f)
		default:
			return n
		}
	}
	return Burst
}

func (p *PipePort) Tx(n int, fill func(i int, buf []byte) int) int {
	for i := 0; i < n; i++ {
		buf := make([]byte, 2048)
		l := fill(i, buf)
		if l == 0 {
			continue
		}
		if p.lose() {
			p.Lost.Add(1)
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

func (p *PipePort) lose() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lossPerM == 0 {
		return false
	}
	p.rng ^= p.rng << 13
	p.rng ^= p.rng >> 7
	p.rng ^= p.rng << 17
	return uint32(p.rng%1_000_000) < p.lossPerM
}
