// Package link is a gVisor link endpoint (stack.LinkEndpoint) over a
// frame port: a DPDK ethdev port in production, an in-memory lossy pipe in
// tests. It adds and parses the Ethernet header itself (like gVisor's
// fdbased endpoint) and asks for ARP, so the stack speaks Ethernet + ARP +
// IPv4 on the wire.
//
// Inbound frames are pulled by Poll, a run-to-completion loop on one
// goroutine (the EAL thread for DPDK): rx burst, copy each frame into a
// gVisor packet, DeliverNetworkPacket. Outbound packets come from any
// goroutine (gVisor's TCP processors and timers, engine workers, the poller
// itself for ARP replies); WritePackets serialises them on a mutex because a
// DPDK tx queue is not MT-safe.
//
// Every queue is bounded: the port's rx descriptor ring and tx queue are the
// rings; a frame that does not fit (ring full, mbuf pool empty, frame larger
// than an mbuf) is dropped and counted, and TCP retransmits it.
package link

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Port moves Ethernet frames. Rx is called by one goroutine at a time, Tx
// too (the endpoint serialises it).
type Port interface {
	// Rx receives one burst and calls fn with a view of each frame, valid
	// only during fn. It returns the number of frames.
	Rx(fn func(frame []byte)) int
	// Tx sends n frames (n <= Burst); fill writes frame i into buf and
	// returns its length (0: drop it). It returns how many were sent.
	Tx(n int, fill func(i int, buf []byte) int) int
	// MAC is the port's Ethernet address.
	MAC() [6]byte
}

// Burst is the most frames handed to one Port.Tx call.
const Burst = 32

// Stats are the endpoint's counters.
type Stats struct {
	RxFrames, RxBad    uint64 // frames delivered; frames too short to parse
	TxFrames, TxDrops  uint64 // frames sent; frames dropped on tx
	Polls, IdleSleeps  uint64 // rx bursts tried; back-off sleeps
	IdleWaits          uint64 // rx interrupt waits
	RxBursts, TxBursts uint64
	Lost               uint64 // frames dropped by SetLoss
	ZeroWindows        uint64 // zero-window segments the stack sent
	AckRescues         uint64 // inbound segments turned into acceptable ACKs (zerowindow.go)
}

// Endpoint is the stack.LinkEndpoint over a Port.
type Endpoint struct {
	port Port
	mtu  atomic.Uint32
	addr tcpip.LinkAddress

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	onClose    func()

	txMu      sync.Mutex // serialises Port.Tx
	txStopped bool       // under txMu: StopTx ran, the port may be gone

	zw zeroWindows
	// Injected loss for tests (SetLoss): per million frames, each way, in
	// a fixed pseudo-random pattern; rxRng is poller-only, txRng under txMu.
	lossPerM     atomic.Uint32
	rxRng, txRng uint64
	lost         atomic.Uint64
	noRescue     atomic.Bool
	scratch      [2048]byte // poller only: rewritten frames (zerowindow.go)

	// The functions given to Port.Rx and Port.Tx, built once (a closure
	// per burst allocated on every poll, idle ones too) with what they
	// need passed in fields: rxDisp is poller only, txBatch under txMu.
	rxFn, rxNop func(frame []byte)
	rxDisp      stack.NetworkDispatcher
	txFn        func(i int, buf []byte) int
	txBatch     []*stack.PacketBuffer

	rxFrames, rxBad, txFrames, txDrops, polls, idleSleeps, idleWaits, rxBursts, txBursts, ackRescues atomic.Uint64
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns an endpoint over port with the given IP MTU.
func New(port Port, mtu uint32) *Endpoint {
	mac := port.MAC()
	e := &Endpoint{port: port, addr: tcpip.LinkAddress(mac[:]), rxRng: 0x9e3779b97f4a7c15, txRng: 0x9e3779b97f4a7c15}
	e.mtu.Store(mtu)
	e.rxFn = func(frame []byte) { e.deliver(e.rxDisp, frame) }
	e.rxNop = func([]byte) {}
	e.txFn = e.txOne
	return e
}

// SetAckRescue turns the zero-window ACK rescue (zerowindow.go) on or off;
// it is on by default. Off exists to show the stall it prevents.
func (e *Endpoint) SetAckRescue(on bool) { e.noRescue.Store(!on) }

// SetLoss makes the endpoint drop perMillion of its frames in each
// direction, deterministically (a fixed xorshift sequence): the test hook
// for loss on a real port. Zero turns it off.
func (e *Endpoint) SetLoss(perMillion uint32) { e.lossPerM.Store(perMillion) }

func lose(rng *uint64, perM uint32) bool {
	*rng ^= *rng << 13
	*rng ^= *rng >> 7
	*rng ^= *rng << 17
	return uint32(*rng%1_000_000) < perM
}

// Stats returns a snapshot of the counters.
func (e *Endpoint) Stats() Stats {
	return Stats{
		RxFrames: e.rxFrames.Load(), RxBad: e.rxBad.Load(),
		TxFrames: e.txFrames.Load(), TxDrops: e.txDrops.Load(),
		Polls: e.polls.Load(), IdleSleeps: e.idleSleeps.Load(), IdleWaits: e.idleWaits.Load(),
		RxBursts: e.rxBursts.Load(), TxBursts: e.txBursts.Load(),
		AckRescues: e.ackRescues.Load(), ZeroWindows: e.zw.adverts.Load(), Lost: e.lost.Load(),
	}
}

func (e *Endpoint) MTU() uint32                    { return e.mtu.Load() }
func (e *Endpoint) SetMTU(mtu uint32)              { e.mtu.Store(mtu) }
func (e *Endpoint) MaxHeaderLength() uint16        { return header.EthernetMinimumSize }
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.addr }

// SetLinkAddress is ignored: the port's MAC is fixed by the PMD.
func (e *Endpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities asks the stack for link address resolution (ARP).
func (e *Endpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
}

func (e *Endpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

// Wait returns at once: the poller is owned and joined by the runtime.
func (e *Endpoint) Wait() {}

func (e *Endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

func (e *Endpoint) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: pkt.EgressRoute.LocalLinkAddress,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

func (e *Endpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

func (e *Endpoint) Close() {
	e.mu.Lock()
	fn := e.onClose
	e.onClose = nil
	e.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (e *Endpoint) SetOnCloseAction(fn func()) {
	e.mu.Lock()
	e.onClose = fn
	e.mu.Unlock()
}

// StopTx ends transmission for good: it returns once a Port.Tx in progress
// has finished, and later WritePackets send nothing (ErrClosedForSend).
// Call it before closing the port: gVisor's goroutines (an aborted
// endpoint's RST, TCP timers) may still send after Stack.Close returns,
// and a tx burst on a closed port, from a mempool EAL cleanup has freed,
// touches freed memory.
func (e *Endpoint) StopTx() {
	e.txMu.Lock()
	e.txStopped = true
	e.txMu.Unlock()
}

// WritePackets sends pkts in bursts. It does not DecRef them: the caller
// owns them. A packet the port does not take is dropped and counted; the
// return value counts only packets sent.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	all := pkts.AsSlice()
	sent := 0
	e.txMu.Lock()
	defer e.txMu.Unlock()
	if e.txStopped {
		return 0, &tcpip.ErrClosedForSend{}
	}
	for len(all) > 0 {
		batch := all[:min(len(all), Burst)]
		all = all[len(batch):]
		e.txBatch = batch
		n := e.port.Tx(len(batch), e.txFn)
		e.txBatch = nil
		e.txBursts.Add(1)
		sent += n
		e.txFrames.Add(uint64(n))
		e.txDrops.Add(uint64(len(batch) - n))
	}
	if sent == 0 && pkts.Len() > 0 {
		// Report the drop like a full NIC queue; TCP retransmits.
		return 0, &tcpip.ErrWouldBlock{}
	}
	return sent, nil
}

// txOne is txFn: it copies packet i of txBatch into buf (under txMu).
func (e *Endpoint) txOne(i int, buf []byte) int {
	pkt := e.txBatch[i]
	if pkt.Size() > len(buf) {
		return 0
	}
	off := 0
	for _, s := range pkt.AsSlices() {
		off += copy(buf[off:], s)
	}
	e.zw.noteTx(buf[:off])
	if p := e.lossPerM.Load(); p != 0 && lose(&e.txRng, p) {
		e.lost.Add(1)
		return 0
	}
	return off
}

// deliver hands one received frame to the stack (the frame is copied).
func (e *Endpoint) deliver(d stack.NetworkDispatcher, frame []byte) {
	if len(frame) < header.EthernetMinimumSize {
		e.rxBad.Add(1)
		return
	}
	if p := e.lossPerM.Load(); p != 0 && lose(&e.rxRng, p) {
		e.lost.Add(1)
		return
	}
	if e.noRescue.Load() {
		// stock gVisor behaviour (SetAckRescue(false))
	} else if r := e.zw.rescue(frame, e.scratch[:]); r != nil {
		frame = r
		e.ackRescues.Add(1)
	}
	proto := header.Ethernet(frame).Type()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		Payload: buffer.MakeWithView(buffer.NewViewWithData(frame)),
	})
	e.ParseHeader(pkt) // cannot fail: the frame holds an Ethernet header (checked above)
	e.rxFrames.Add(1)
	d.DeliverNetworkPacket(proto, pkt)
	pkt.DecRef()
}

// PollOnce runs one rx burst and returns the number of frames.
func (e *Endpoint) PollOnce() int {
	e.mu.RLock()
	d := e.dispatcher
	e.mu.RUnlock()
	e.polls.Add(1)
	if d == nil {
		return e.port.Rx(e.rxNop)
	}
	e.rxDisp = d
	n := e.port.Rx(e.rxFn)
	if n > 0 {
		e.rxBursts.Add(1)
	}
	return n
}
