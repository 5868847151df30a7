package protocol

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// sessState is where a session is; each state says what it waits for.
type sessState uint8

const (
	stConnecting sessState = iota // a socket is in the handshake (dialled or accepted)
	stOpen                        // OPENED: frames flow on s.sock
	stStandby                     // no socket; a connector redials when something is queued, a server waits for the peer
	stBackoff                     // connector: waiting for the back-off (or WAIT) timer to redial
	stClosed                      // marked down or lossy fault; final
)

var stateNames = [...]string{"connecting", "open", "standby", "backoff", "closed"}

func (s sessState) String() string { return stateNames[s] }

// Session is a Ceph Connection: the state that survives socket faults.
type Session struct {
	ep        *Endpoint
	peerType  wire.EntityType
	connector bool         // we dial (and redial) this peer
	v2        atomic.Bool  // msgr2.1 crc mode (sock2.go); else msgr1. Atomic: session2 reads it under ep.mu only, reuse2Locked sets it under s.mu (a race the detector caught in PeerV2Injected)
	regKey    wire.AddrKey // registry key

	mu         sync.Mutex
	policy     Policy
	peerAddr   wire.EntityAddr
	nonceKnown bool
	state      sessState
	sock       *sock // current socket; nil in standby/backoff/closed
	everOpened bool

	connectSeq    uint32
	peerGlobalSeq uint32
	globalSeq     uint32 // of our current connect attempt
	features      uint64

	outSeq, inSeq, ackedIn uint64

	// msgr2 lossless sessions (sock2.go): the cookies naming the session
	// (Ceph's client_cookie, from the side that sent CLIENT_IDENT, and
	// server_cookie, from the side that sent SERVER_IDENT; both sides keep
	// both), and the peer's name (a resumed session's frames carry none).
	clientCookie, serverCookie uint64
	peerName                   wire.EntityName

	// Received messages whose seq was accepted, waiting for Deliver (see
	// deliverLocked). No lock is held during Deliver, so the session
	// serialises its deliveries itself: one goroutine at a time delivers
	// (delivering), and a socket that accepts a message meanwhile (after a
	// replace, on another loop) appends it to inbox for that goroutine.
	inbox      []*Message
	inHead     int
	delivering bool

	requeued []*Message // sent but unacked at the last fault, resent first, in seq order
	queue    outQueue   // not yet written
	sent     []*Message // written, unacked (lossless only)
	qBytes   int64      // payload bytes in requeued+queue+sent
	qMsgs    int

	keepalive        bool // a keepalive is to be sent
	lastKeepaliveAck time.Time
	waitPending      bool // the last reply was WAIT
	backoff          time.Duration
	stopTimer        func() bool
	timerGen         uint64
	flushQueued      bool
}

func newSession(ep *Endpoint, peerType wire.EntityType, peer wire.EntityAddr, pol Policy, connector bool) *Session {
	return &Session{ep: ep, peerType: peerType, connector: connector, regKey: peer.Key(),
		policy: pol, peerAddr: peer, state: stConnecting}
}

// PeerType is the peer's entity type.
func (s *Session) PeerType() wire.EntityType { return s.peerType }

// PeerAddr is the peer's address (for an accepted session: as it declared it).
func (s *Session) PeerAddr() wire.EntityAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerAddr
}

// Features are the session's negotiated features (0 before OPENED).
func (s *Session) Features() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.features
}

// Msgr2 reports whether the session speaks msgr2.1 (crc mode) rather
// than msgr1.
func (s *Session) Msgr2() bool { return s.v2.Load() }

// Lossy reports the session's current lossiness (a connector adopts the
// server's LOSSY flag).
func (s *Session) Lossy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policy.Lossy
}

// State is the session state's name.
func (s *Session) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.String()
}

// IsOpen reports the OPENED state.
func (s *Session) IsOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stOpen
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stClosed
}

// SeqState returns connect_seq, out_seq and in_seq (for tests and logs).
func (s *Session) SeqState() (connectSeq uint32, outSeq, inSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectSeq, s.outSeq, s.inSeq
}

// Queued is the number of messages and payload bytes queued or unacked.
func (s *Session) Queued() (msgs int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qMsgs, s.qBytes
}

// LastKeepaliveAck is when the last KEEPALIVE2_ACK arrived.
func (s *Session) LastKeepaliveAck() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastKeepaliveAck
}

// SendMessage queues m. It never blocks; any goroutine may call it. At the
// out-queue limit it returns ErrOutQueueFull and queues nothing.
func (s *Session) SendMessage(m *Message) error {
	n := int64(m.PayloadLen())
	cfg := &s.ep.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stClosed {
		return ErrSessionClosed
	}
	if uint64(n) > cfg.MaxMessageBytes {
		return ErrMessageTooLarge // the peer (same default limit) would refuse it, and a lossless session would resend it forever
	}
	if s.qMsgs >= cfg.MaxOutQueueMessages || (s.qMsgs > 0 && s.qBytes+n > cfg.MaxOutQueueBytes) {
		s.ep.C.OutQueueFull.Add(1)
		return ErrOutQueueFull
	}
	m.Src = cfg.Name
	m.queuedAt = n
	m.ref() // held until forgetLocked (pool.go)
	s.qBytes += n
	s.qMsgs++
	s.queue.push(m)
	s.kickLocked()
	return nil
}

// SendKeepalive queues a KEEPALIVE2 (KEEPALIVE without the feature).
func (s *Session) SendKeepalive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stClosed {
		return
	}
	s.keepalive = true
	s.kickLocked()
}

// kickLocked gets queued output moving: flush an open socket, or redial a
// connector in standby (with the same connect_seq: the peer steers it with
// RETRY_SESSION, §11.3).
func (s *Session) kickLocked() {
	switch s.state {
	case stOpen:
		s.scheduleFlushLocked()
	case stStandby:
		if s.connector && !s.policy.Server {
			s.connectLocked()
		}
	}
}

func (s *Session) scheduleFlushLocked() {
	if s.flushQueued || s.sock == nil || s.sock.c == nil {
		return
	}
	s.flushQueued = true
	k := s.sock
	if err := k.execute(k.c, k.flush); err != nil {
		// Closed, or refused at the loop's limit (then the socket faults
		// and the session's policy applies; see sock.execute).
		s.flushQueued = false
	}
}

// MarkDown closes the session for good (Ceph's mark_down): the socket is
// closed, queued messages are dropped, no reset is reported.
func (s *Session) MarkDown() {
	s.mu.Lock()
	s.closeLocked()
	s.mu.Unlock()
	s.ep.unregister(s)
}

// closeLocked ends the session; the caller unregisters it after unlocking.
func (s *Session) closeLocked() {
	if s.state == stClosed {
		return
	}
	s.state = stClosed
	s.stopTimerLocked()
	if k := s.sock; k != nil {
		s.sock = nil
		if k.c != nil {
			_ = k.c.Close()
		}
	}
	s.dropAllLocked()
}

func (s *Session) dropAllLocked() {
	s.queue.drain()
	s.requeued, s.sent = nil, nil
	s.qBytes, s.qMsgs = 0, 0
	s.keepalive = false
}

func (s *Session) stopTimerLocked() {
	s.timerGen++
	if s.stopTimer != nil {
		s.stopTimer()
		s.stopTimer = nil
	}
}

// connectLocked dials the peer with a fresh global_seq.
func (s *Session) connectLocked() {
	ep := s.ep
	s.stopTimerLocked()
	s.state = stConnecting
	s.globalSeq = ep.nextGlobalSeq()
	if s.v2.Load() && s.serverCookie != 0 {
		// Every attempt to resume an msgr2 session carries a connect_seq
		// above the last one (Ceph bumps it on each fault of a session
		// with a server_cookie), so the acceptor tells a retry from a
		// race: an equal connect_seq means both sides are reconnecting.
		s.connectSeq++
	}
	k := newSock(ep, nil, s)
	if s.v2.Load() {
		k.v2 = true
		if err := k.initClient2Locked(s); err != nil {
			ep.logf("msgr: connect %s: %v", s.peerAddr.TypedString(), err)
			s.backoffLocked()
			return
		}
	}
	s.sock = k
	ep.C.Connects.Add(1)
	c, err := ep.eng.Dial(s.peerAddr.AddrPort().String(), k, engine.DialOptions{Timeout: ep.cfg.HandshakeTimeout})
	if err != nil {
		ep.logf("msgr: connect %s: %v", s.peerAddr, err)
		s.sock = nil
		s.backoffLocked()
		return
	}
	k.c = c
}

// backoffLocked schedules a redial after the next back-off step.
func (s *Session) backoffLocked() {
	cfg := &s.ep.cfg
	if s.backoff == 0 {
		s.backoff = cfg.InitialBackoff
	} else {
		s.backoff = min(2*s.backoff, cfg.MaxBackoff)
	}
	s.redialAfterLocked(s.backoff)
}

func (s *Session) redialAfterLocked(d time.Duration) {
	s.stopTimerLocked()
	s.state = stBackoff
	gen := s.timerGen
	s.stopTimer = s.ep.cfg.Clock.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state == stBackoff && s.timerGen == gen {
			s.ep.C.Reconnects.Add(1)
			s.connectLocked()
		}
	})
}

// requeueSentLocked moves written-but-unacked messages back in front of
// the queue, and out_seq back so they get their numbers again (§13).
func (s *Session) requeueSentLocked() {
	if len(s.sent) == 0 {
		return
	}
	s.ep.C.Resent.Add(uint64(len(s.sent)))
	s.requeued = append(s.sent, s.requeued...)
	s.sent = nil
	s.outSeq = s.requeued[0].Seq - 1
}

// discardRequeuedUpToLocked is Ceph's discard_requeued_up_to (§13): the
// peer has everything up to seq. With nothing requeued out_seq becomes seq.
func (s *Session) discardRequeuedUpToLocked(seq uint64) {
	if len(s.requeued) == 0 {
		s.outSeq = seq
		return
	}
	for len(s.requeued) > 0 && s.requeued[0].Seq > 0 && s.requeued[0].Seq <= seq {
		m := s.requeued[0]
		s.requeued[0] = nil
		s.requeued = s.requeued[1:]
		s.forgetLocked(m)
		s.outSeq++
	}
}

// forgetLocked drops a message's out-queue accounting, and the session's
// hold on it: done with for good (acknowledged, or written when lossy).
func (s *Session) forgetLocked(m *Message) {
	s.qBytes -= m.queuedAt
	s.qMsgs--
	m.unref()
}

// sentCompactMax: see handleAckLocked.
const sentCompactMax = 1024

// handleAckLocked frees sent messages up to seq.
func (s *Session) handleAckLocked(seq uint64) {
	i := 0
	for ; i < len(s.sent) && s.sent[i].Seq <= seq; i++ {
		s.forgetLocked(s.sent[i])
		s.sent[i] = nil
	}
	// Keep the array, so that appending in fill needs no new one in
	// steady state: move the unacked rest to the front when it is short
	// (a bounded cost per ACK) or no longer than what was freed (each
	// message moved O(1) times on average); else slice.
	if rest := len(s.sent) - i; i > 0 && (rest <= sentCompactMax || rest <= i) {
		copy(s.sent, s.sent[i:])
		clear(s.sent[rest:])
		s.sent = s.sent[:rest]
	} else {
		s.sent = s.sent[i:]
	}
}

// resetSessionLocked is Ceph's session reset (RESETSESSION, or a peer
// reset seen by a resetcheck acceptor): everything queued or unacked is
// dropped and the sequence numbers restart.
func (s *Session) resetSessionLocked() {
	s.dropAllLocked()
	s.inSeq, s.ackedIn, s.connectSeq = 0, 0, 0
	s.outSeq = 0
	s.clientCookie, s.serverCookie = 0, 0
	if !s.v2.Load() && s.features&wire.FeatureMsgAuth != 0 {
		s.outSeq = uint64(rand.Uint32() & 0x7fffffff)
	}
}

func (s *Session) nothingToSendLocked() bool {
	return s.queue.len() == 0 && len(s.requeued) == 0 && !s.keepalive
}

// faultLocked handles the loss of the current socket per the policy (§13
// fault table). The caller has set s.sock = nil. It returns the events to
// report and whether the session closed (then the caller unregisters it).
func (s *Session) faultLocked(ev *events) (closed bool) {
	s.ep.C.Faults.Add(1)
	s.flushQueued = false
	if s.state == stClosed {
		return false
	}
	wasOpen := s.state == stOpen
	if s.policy.Lossy {
		s.closeLocked()
		if s.everOpened {
			ev.add(EventReset, s)
		} else {
			ev.add(EventRefused, s)
		}
		return true
	}
	s.requeueSentLocked()
	if !s.connector || s.policy.Server {
		s.serverStandbyLocked() // wait for the peer to reconnect
		return false
	}
	if s.waitPending {
		s.waitPending = false
		s.redialAfterLocked(s.ep.cfg.MaxBackoff)
		return false
	}
	if s.policy.Standby && s.nothingToSendLocked() {
		s.state = stStandby
		return false
	}
	if wasOpen {
		if !s.v2.Load() {
			s.connectSeq++ // msgr2: connectLocked
		}
		s.backoff = 0
		s.ep.C.Reconnects.Add(1)
		s.connectLocked()
		return false
	}
	s.backoffLocked()
	return false
}

// serverStandbyLocked parks a session that waits for its peer. It is
// forgotten after StandbyTimeout, so peers that never come back (clients
// that exited) do not accumulate; a peer returning later gets RESETSESSION.
func (s *Session) serverStandbyLocked() {
	s.state = stStandby
	d := s.ep.cfg.StandbyTimeout
	if d <= 0 {
		return
	}
	s.stopTimerLocked()
	gen := s.timerGen
	s.stopTimer = s.ep.cfg.Clock.AfterFunc(d, func() {
		s.mu.Lock()
		expired := s.state == stStandby && s.timerGen == gen
		if expired {
			s.closeLocked()
		}
		s.mu.Unlock()
		if expired {
			s.ep.unregister(s)
		}
	})
}

// deliverLocked hands m (its seq just accepted) to Hooks.Deliver, in seq
// order and exactly once, with no lock held during the call. s.mu is held
// on entry and released on return. If another goroutine is delivering for
// this session, m joins the inbox and that goroutine delivers it after the
// messages before it; the caller returns at once. Otherwise the caller
// delivers m and then whatever arrived meanwhile. Sockets of a session may
// run on different loops (a replace moves the session to a new socket
// while the old one's loop may still be in Deliver; Ceph instead moves the
// new socket onto the connection's thread). The inbox is bounded by the
// dispatch throttles each of its messages holds.
func (s *Session) deliverLocked(m *Message) {
	if s.delivering {
		s.inbox = append(s.inbox, m)
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for {
		s.mu.Unlock()
		s.ep.hooks.Deliver(m)
		s.mu.Lock()
		if s.inHead == len(s.inbox) {
			s.inbox, s.inHead = s.inbox[:0], 0
			s.delivering = false
			s.mu.Unlock()
			return
		}
		m = s.inbox[s.inHead]
		s.inbox[s.inHead] = nil
		s.inHead++
	}
}

// Event is a session event (Ceph's ms_handle_connect, ms_handle_accept,
// ms_handle_reset, ms_handle_remote_reset, ms_handle_refused). The protocol
// reports them to Hooks after its locks are released; msgr queues them for
// its Dispatcher.
type Event uint8

const (
	EventConnect Event = iota
	EventAccept
	EventReset
	EventRemoteReset
	EventRefused
)

// SessionEvents receives session events; Hooks and msgr's Dispatcher have
// these methods.
type SessionEvents interface {
	HandleConnect(s *Session)     // a connector session became OPENED
	HandleAccept(s *Session)      // an accepted session became OPENED
	HandleReset(s *Session)       // a lossy session faulted and is closed
	HandleRemoteReset(s *Session) // the peer reset its session (RESETSESSION / reset-from-peer)
	HandleRefused(s *Session)     // a connect was refused and the session closed
}

// Notify calls the method of h that ev names.
func (ev Event) Notify(h SessionEvents, s *Session) {
	switch ev {
	case EventConnect:
		h.HandleConnect(s)
	case EventAccept:
		h.HandleAccept(s)
	case EventReset:
		h.HandleReset(s)
	case EventRemoteReset:
		h.HandleRemoteReset(s)
	case EventRefused:
		h.HandleRefused(s)
	}
}

type events struct {
	n    int
	kind [4]Event
	sess [4]*Session
}

func (e *events) add(k Event, s *Session) {
	if e.n < len(e.kind) {
		e.kind[e.n], e.sess[e.n] = k, s
		e.n++
	}
}

func (e *events) emit(h Hooks) {
	for i := range e.n {
		e.kind[i].Notify(h, e.sess[i])
	}
	e.n = 0
}

// InjectFault closes the current socket as a network failure would; the
// session then follows its policy (reconnect, standby or close). For fault
// injection and tests.
func (s *Session) InjectFault() {
	s.mu.Lock()
	k := s.sock
	s.mu.Unlock()
	if k != nil && k.c != nil {
		_ = k.c.Close()
	}
}
