package protocol

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/proto2"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// rstate is what a socket's reader waits for.
type rstate uint8

const (
	rsAcceptBanner  rstate = iota // acceptor: peer banner + its address (145 bytes)
	rsAcceptConnect               // acceptor: connect (33) + authorizer
	rsAcceptSeq                   // acceptor: after a SEQ reply, the peer's u64 in_seq
	rsConnBanner                  // connector: banner + server address + our address as seen (281)
	rsConnReply                   // connector: connect_reply (26) + authorizer reply [+ u64 after SEQ]
	rsV2Handshake                 // msgr2: the banner and handshake frames, fed to proto2 until the session opens
	rsTag                         // OPENED: a frame's tag byte
	rsFixed                       // OPENED: fixed payload of ACK / KEEPALIVE2 / KEEPALIVE2_ACK
	rsHeader                      // OPENED: 53-byte message header
	rsThrottle                    // OPENED: header accepted, taking throttles (paused while waiting)
	rsBody                        // OPENED: front+middle+data+footer into the message buffer (msgr2: a whole frame)
	rsV2Frame                     // msgr2 READY: the next frame's 32-byte preamble
	rsDead                        // closed; input is discarded
)

// errPaused stops the read loop while a throttle waiter is registered.
var errPaused = errors.New("paused")

// ctlLimit bounds control bytes (KEEPALIVE2_ACKs) awaiting the writer; above
// it the reader pauses until the out-queue drains.
const ctlLimit = 64 << 10

// chunkSize bounds one payload segment handed to the engine.
const chunkSize = 64 << 10

// sock is one TCP connection's protocol state (an engine.Handler).
type sock struct {
	ep     *Endpoint
	c      engine.Conn // set under sess.mu (connector) or at accept; for other goroutines
	lc     engine.Conn // the loop's view, from callbacks
	sess   *Session    // attached session (connector: from the start)
	accept bool
	v2     bool // msgr2 (an acceptor's proto2 server is built in OnOpen)

	// msgr2 (sock2.go): the connection's state machine; nil for msgr1.
	// Loop-owned.
	p2          *proto2.Conn
	peerName    wire.EntityName // the Src of what the peer sends (ceph_msg_header2 has none)
	frameLen    int             // the MESSAGE frame being read, preamble included
	frameMsg    bool            // the frame in the body buffer is a MESSAGE (its throttles held)
	cookie2     uint64          // acceptor: the server_cookie its SERVER_IDENT gives
	resetCookie uint64          // connector: the client_cookie of a session a full SESSION_RESET restarts

	// Loop-owned state below.
	rs       rstate
	closed   bool
	opened   bool // counted in ConnectionsOpen
	hsTimer  engine.Timer
	peerAddr wire.EntityAddr // acceptor: the peer's declared address
	connect  wire.Connect    // acceptor: the connect being handled
	tag      wire.Tag        // OPENED: current frame's tag

	hdr     wire.Header
	claim   uint64 // payload bytes of the message being read: what its byte throttles take
	footLen int
	body    []byte   // the current message's payload and footer received so far (grows: readBody)
	bodyLen int      // the length body will reach: payload + footer
	rx      *Message // the pooled message body belongs to (Config.RecycleMessages)
	have    int
	tIdx    int
	held    [4]*throttle.Throttle
	heldN   [4]int64
	waiter  *throttle.Waiter
	paused  bool // paused by a throttle
	ctlWait bool // paused until control bytes drain

	// bodyTimer checks BodyProgressTimeout while a message body is
	// incomplete (nil: not armed); bodyLast is when the body last grew or
	// began. bodyCheck is checkBody, bound once.
	bodyTimer engine.Timer
	bodyLast  time.Time
	bodyCheck func()

	ctl      []byte   // control frames built on the loop (KEEPALIVE2_ACK)
	pending  [][]byte // segments handed over but not yet accepted by the engine
	bufAt    int      // pending[bufAt-1] is the endpoint's batch buffer (writer.go); 0: none
	segs     [][]byte // the array behind pending, kept for the next fill
	blocked  bool     // engine out-queue full: wait for OnDrained
	fallback bool     // the drain fallback timer is armed
	reads    int
	delayed  bool // an injected delay just ended
	active   bool // traffic since the idle timer was armed

	// execRefused: the loop refused a flush or throttle grant (execute);
	// set from any goroutine before it closes the conn, read in OnClose.
	execRefused atomic.Bool
}

func newSock(ep *Endpoint, c engine.Conn, s *Session) *sock {
	k := &sock{ep: ep, c: c, sess: s}
	if s == nil {
		k.rs = rsAcceptBanner
	} else {
		k.rs = rsConnBanner
	}
	return k
}

func (k *sock) op() string {
	if k.accept {
		return "accept"
	}
	return "connect"
}

func (k *sock) peerString() string {
	if k.lc != nil {
		return k.lc.RemoteAddr().String()
	}
	if k.sess != nil {
		return k.sess.peerAddr.AddrPort().String()
	}
	return "?"
}

func (k *sock) protoErr(err error) error {
	return &ProtocolError{Op: k.op(), Peer: k.peerString(), Err: err}
}

// OnOpen sends our opening bytes: both sides send the banner at once (§2);
// the acceptor adds its address and the peer's as seen (§5).
func (k *sock) OnOpen(c engine.Conn) {
	k.lc = c
	k.opened = true
	k.ep.C.ConnectionsOpen.Add(1)
	k.hsTimer = c.AfterFunc(k.ep.cfg.HandshakeTimeout, func() {
		if !k.closed && (k.rs < rsTag || k.p2 != nil && !k.p2.Established()) {
			k.fault(k.protoErr(ErrHandshakeTimeout))
		}
	})
	if k.v2 {
		k.open2(c)
		return
	}
	b := wire.AppendBanner(make([]byte, 0, wire.BannerLen+2*wire.AddrLen))
	if k.accept {
		me := k.ep.legacyAddr()
		if me.IsBlankIP() {
			local := wire.AddrFromNet(c.LocalAddr(), me.Nonce)
			me.IP, me.Family = local.IP, local.Family
		}
		b = wire.AppendAddr(b, me)
		b = wire.AppendAddr(b, wire.AddrFromNet(c.RemoteAddr(), 0))
	}
	k.write(b)
}

// write hands bytes to the engine on the loop (handshake bytes, small).
func (k *sock) write(b []byte) {
	if k.closed {
		return
	}
	if err := k.lc.Write(b); err != nil {
		k.fault(err)
	}
}

// OnData runs the reader state machine over in, consuming what it can.
func (k *sock) OnData(c engine.Conn, in []byte) int {
	if k.closed {
		return len(in)
	}
	cfg := &k.ep.cfg
	if n := cfg.InjectSocketFailures; n > 0 && rand.IntN(n) == 0 {
		k.ep.C.InjectedFailures.Add(1)
		k.fault(k.protoErr(ErrInjectedFailure))
		return len(in)
	}
	k.reads++
	k.active = true
	if k.delayed {
		k.delayed = false // the bytes held back by a delay go through now
	} else if cfg.InjectDelay > 0 && cfg.InjectDelayEvery > 0 && rand.IntN(cfg.InjectDelayEvery) == 0 {
		k.delayed = true
		c.PauseRead()
		c.AfterFunc(cfg.InjectDelay, func() {
			if !k.closed && !k.paused && !k.ctlWait {
				c.ResumeRead()
			}
		})
		return 0
	}
	off := 0
	for off < len(in) || k.rs == rsThrottle {
		n, err := k.step(in[off:])
		off += n
		if err == wire.ErrShort || err == errPaused {
			break
		}
		if err != nil {
			k.fault(err)
			return len(in)
		}
		if k.closed {
			return len(in)
		}
	}
	if k.rs == rsBody && !k.closed {
		k.bodyPending() // the body grew or began in this call and is not complete
	}
	if k.rs >= rsTag && !k.closed {
		k.flush()
	}
	return off
}

// step consumes one unit of input for the current state.
func (k *sock) step(in []byte) (int, error) {
	switch k.rs {
	case rsAcceptBanner:
		return k.readAcceptBanner(in)
	case rsAcceptConnect:
		return k.readConnect(in)
	case rsAcceptSeq:
		return k.readAcceptSeq(in)
	case rsConnBanner:
		return k.readServerBanner(in)
	case rsConnReply:
		return k.readReply(in)
	case rsTag:
		return k.readTag(in)
	case rsFixed:
		return k.readFixed(in)
	case rsHeader:
		return k.readHeader(in)
	case rsThrottle:
		return 0, k.takeThrottles()
	case rsBody:
		return k.readBody(in)
	case rsV2Handshake:
		return k.readHandshake2(in)
	case rsV2Frame:
		return k.readFrame2(in)
	}
	return len(in), nil
}

// OnReadEOF: the peer shut its side; msgr1 has no half-close, so it is a fault.
func (k *sock) OnReadEOF(c engine.Conn) {
	if k.closed {
		_ = c.Close() // a lingering refusal: the peer has read it
		return
	}
	k.fault(io.EOF)
}

// refusalLinger bounds how long a refused msgr2 socket stays open for its
// last frame to reach the peer.
const refusalLinger = time.Second

// linger closes a refused msgr2 socket once its last frame has left: FIN
// after what is queued (AUTH_BAD_METHOD, IDENT_MISSING_FEATURES, WAIT),
// then Close at the peer's EOF or after refusalLinger, whichever comes
// first, because an engine's Close discards unsent bytes and the peer
// would see a bare close instead of the reason. Input meanwhile is
// dropped (OnData on a closed sock).
func linger(c engine.Conn) {
	_ = c.CloseWrite()
	c.AfterFunc(refusalLinger, func() { _ = c.Close() })
}

// OnDrained resumes a writer that hit the engine's out-queue limit.
func (k *sock) OnDrained(c engine.Conn) {
	if k.closed {
		return
	}
	k.blocked = false
	if k.ctlWait {
		k.ctlWait = false
		if !k.paused {
			c.ResumeRead()
		}
	}
	if k.rs >= rsTag {
		k.flush()
	}
}

// OnClose is the end of this socket.
func (k *sock) OnClose(c engine.Conn, err error) {
	if k.lc == nil {
		k.lc = c
	}
	if k.opened {
		k.opened = false
		k.ep.C.ConnectionsOpen.Add(-1)
	}
	switch {
	case err == nil && k.execRefused.Load():
		err = fmt.Errorf("msgr: %s %s: flush or throttle grant refused: %w", k.op(), k.peerString(), engine.ErrExecuteQueueFull)
	case err == nil:
		err = io.EOF
	}
	k.fault(err)
}

// fault closes this socket and, if it is its session's current socket,
// applies the session's fault policy.
func (k *sock) fault(err error) {
	if k.closed {
		return
	}
	k.closed = true
	k.rs = rsDead
	if k.hsTimer != nil {
		k.hsTimer.Stop()
	}
	if k.bodyTimer != nil {
		k.bodyTimer.Stop()
		k.bodyTimer = nil
	}
	if k.waiter != nil {
		k.waiter.Cancel()
		k.waiter = nil
	}
	k.releaseHeld()
	k.body, k.rx, k.pending, k.segs, k.bufAt, k.ctl = nil, nil, nil, nil, 0, nil
	if k.lc != nil {
		if isV2Refusal(err) {
			linger(k.lc)
		} else {
			_ = k.lc.Close()
		}
	}
	var pe *ProtocolError
	var re *ReplyError
	switch {
	case errors.Is(err, engine.ErrExecuteQueueFull):
		k.ep.logf("%v", err) // the loop is overloaded: worth a line
	case !errors.As(err, &pe):
		// A socket error or EOF: the session's fault policy says what follows.
	case errors.Is(err, ErrInjectedFailure), errors.Is(err, ErrReplaced):
		// Ours, not the peer's: counted elsewhere, not logged (thousands in a soak).
	case errors.Is(err, ErrHandshakeTimeout), errors.Is(err, ErrIdle), errors.Is(err, ErrBodyTimeout), errors.As(err, &re), isV2Refusal(err):
		k.ep.logf("%v", err)
	default:
		k.ep.C.BadInput.Add(1)
		k.ep.logf("%v", err)
	}
	s := k.sess
	if s == nil {
		k.ep.forgetSock(k)
		return
	}
	var ev events
	s.mu.Lock()
	if s.sock != k {
		s.mu.Unlock()
		return
	}
	s.sock = nil
	closed := s.faultLocked(&ev)
	s.mu.Unlock()
	ev.emit(k.ep.hooks)
	if closed {
		k.ep.unregister(s)
	}
}

func (k *sock) releaseHeld() {
	for i := len(k.held) - 1; i >= 0; i-- { // reverse order, as Message.Release
		if t := k.held[i]; t != nil {
			t.Put(k.heldN[i])
			k.held[i] = nil
		}
	}
	k.tIdx = 0
}

// becomeOpenLocked switches this socket to OPENED for s (s.mu held).
func (k *sock) becomeOpenLocked(s *Session, ev *events) {
	s.state = stOpen
	s.backoff = 0
	s.everOpened = true
	k.rs = rsTag
	if k.p2 != nil {
		k.rs = rsV2Frame
	}
	if k.hsTimer != nil {
		k.hsTimer.Stop()
		k.hsTimer = nil
	}
	k.ep.C.SessionsOpened.Add(1)
	k.armIdle()
	if k.accept {
		ev.add(EventAccept, s)
	} else {
		ev.add(EventConnect, s)
	}
	s.flushQueued = false
}

// armIdle checks for traffic every IdleTimeout; a period without any
// faults the socket (ms_connection_idle_timeout). Timers die with the conn.
func (k *sock) armIdle() {
	d := k.ep.cfg.IdleTimeout
	if d <= 0 || k.lc == nil {
		return
	}
	k.active = false
	k.lc.AfterFunc(d, func() {
		if k.closed {
			return
		}
		if !k.active {
			k.fault(k.protoErr(ErrIdle))
			return
		}
		k.armIdle()
	})
}

// execute runs fn on the socket's loop from any goroutine. Its callers
// coalesce, so a socket has at most one flush (Session.flushQueued, set
// until a fill finds nothing left) and one throttle grant (a reader waits
// on one throttle at a time) pending in its loop's queue; a full queue
// therefore means the loop is swamped by others. fn is then not run by
// any other means (no zero-delay timer: it would bypass the bound): the
// error is returned, so the caller gives back what it holds (a throttle
// returns the capacity), and the socket is closed and faults with an
// error wrapping engine.ErrExecuteQueueFull (OnClose). The session's
// policy decides what follows, as for any socket fault: a lossless
// session reconnects and resends what the peer has not acknowledged (its
// queue was kept), a lossy one closes and drops its queue.
func (k *sock) execute(c engine.Conn, fn func()) error {
	err := c.Execute(fn)
	if errors.Is(err, engine.ErrExecuteQueueFull) {
		k.execRefused.Store(true)
		_ = c.Close()
	}
	return err
}

// now is the endpoint clock.
func (k *sock) now() time.Time { return k.ep.cfg.Clock.Now() }
