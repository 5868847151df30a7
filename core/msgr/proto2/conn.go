package proto2

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// Role says which side of the connection a Conn is.
type Role uint8

// Roles.
const (
	Client Role = iota // the connector (Ceph's *_CONNECTING states)
	Server             // the acceptor (Ceph's *_ACCEPTING states)
)

func (r Role) String() string {
	if r == Server {
		return "accept"
	}
	return "connect"
}

// State is where the handshake is, named as ProtocolV2's states. Each
// waits for one thing from the peer.
type State uint8

// States.
const (
	StateBannerConnecting    State = iota // client: the server's banner
	StateHelloConnecting                  // client: the server's HELLO
	StateAuthConnecting                   // client: AUTH_DONE (or AUTH_BAD_METHOD)
	StateAuthConnectingSign               // client: the server's AUTH_SIGNATURE
	StateSessionConnecting                // client: SERVER_IDENT (or IDENT_MISSING_FEATURES, WAIT)
	StateSessionReconnecting              // client: SESSION_RECONNECT_OK (or RETRY, RETRY_GLOBAL, RESET, WAIT)
	StateBannerAccepting                  // server: the client's banner
	StateHelloAccepting                   // server: the client's HELLO
	StateAuthAccepting                    // server: AUTH_REQUEST
	StateAuthAcceptingSign                // server: the client's AUTH_SIGNATURE
	StateSessionAccepting                 // server: CLIENT_IDENT
	StateReady                            // both: MESSAGE, ACK, KEEPALIVE2, KEEPALIVE2_ACK
	StateClosed                           // after a fault: nothing
)

var stateNames = [...]string{
	StateBannerConnecting: "BANNER_CONNECTING", StateHelloConnecting: "HELLO_CONNECTING",
	StateAuthConnecting: "AUTH_CONNECTING", StateAuthConnectingSign: "AUTH_CONNECTING_SIGN",
	StateSessionConnecting: "SESSION_CONNECTING", StateSessionReconnecting: "SESSION_RECONNECTING",
	StateBannerAccepting: "BANNER_ACCEPTING",
	StateHelloAccepting:  "HELLO_ACCEPTING", StateAuthAccepting: "AUTH_ACCEPTING",
	StateAuthAcceptingSign: "AUTH_ACCEPTING_SIGN", StateSessionAccepting: "SESSION_ACCEPTING",
	StateReady: "READY", StateClosed: "CLOSED",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state%d", uint8(s))
}

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventEstablished: the session is open (SERVER_IDENT or
	// SESSION_RECONNECT_OK received, or sent); Event.Peer says who the
	// peer is and whether the session was resumed. Messages may be sent.
	EventEstablished EventKind = iota + 1
	// EventMessage: a MESSAGE with a seq above the last one received;
	// Event.Message holds it (sections alias Receive's input).
	EventMessage
	// EventAck: the peer acknowledged every message up to Event.Seq, in
	// an ACK frame or a MESSAGE header's ack_seq. Reported when it grows.
	EventAck
	// EventKeepalive: a KEEPALIVE2 with Event.Stamp; its KEEPALIVE2_ACK
	// is already in Output.
	EventKeepalive
	// EventKeepaliveAck: a KEEPALIVE2_ACK echoing Event.Stamp.
	EventKeepaliveAck
	// EventSessionReset: the client's SESSION_RECONNECT got
	// SESSION_RESET; Event.Full says whether the whole session is gone
	// (seqs, queues and cookies restart, as Ceph's reset_session) or
	// only its server side (in_seq, connect_seq and the server cookie
	// restart, what is queued stays). CLIENT_IDENT is already in Output.
	EventSessionReset
)

// Event is something Receive learned.
type Event struct {
	Kind    EventKind
	Peer    Peer          // EventEstablished
	Message wire2.Message // EventMessage
	Seq     uint64        // EventMessage (its seq), EventAck
	Stamp   wire.Timespec // EventKeepalive, EventKeepaliveAck
	Full    bool          // EventSessionReset
}

// Peer is what the handshake established about the other side.
type Peer struct {
	// Name is the peer's entity type (HELLO) and number (its ident's gid).
	Name wire.EntityName
	// Addrs are the peer's addresses from its ident.
	Addrs []wire.EntityAddr
	// AddrForMe is our address as the peer's HELLO says it sees it.
	AddrForMe wire.EntityAddr
	// GlobalID is the client's global_id settled by AUTH_DONE: assigned
	// by the server, adopted by the client.
	GlobalID uint64
	// AuthID is the client's auth name id from its auth none payload
	// (server side only).
	AuthID string
	// GlobalSeq is the peer's global_seq.
	GlobalSeq uint64
	// Features are the Ceph features both sides support (the peer's
	// supported set and ours); PeerFeatures the peer's supported set.
	Features     uint64
	PeerFeatures uint64
	// Cookie is the peer's cookie (0 for a lossy client).
	Cookie uint64
	// Lossy is the session's policy: the server's decision, which the
	// client adopts from SERVER_IDENT.
	Lossy bool
	// Resumed: the session was resumed (SESSION_RECONNECT_OK) rather than
	// opened (SERVER_IDENT). MsgSeq is then the last seq the peer
	// received (RECONNECT_OK's msg_seq, or the client's msg_seq on the
	// server), ConnectSeq the attempt's connect_seq. On a resume only
	// the server learns AddrForMe-independent fields it already had:
	// Name.Num, Features and PeerFeatures are zero there (the caller's
	// session keeps them).
	Resumed    bool
	MsgSeq     uint64
	ConnectSeq uint64
}

// Conn is one msgr2.1 crc-mode connection's protocol state, for either
// role. It does no I/O: Receive takes the bytes that arrived, Output
// returns the bytes to send, Events what happened. Not safe for concurrent
// use: one goroutine (an engine loop) drives it.
type Conn struct {
	role   Role
	state  State
	client ClientConfig
	server ServerConfig
	limits wire2.Limits
	ours   wire2.Banner

	peer      Peer
	peerType  wire.EntityType
	features  uint64 // our supported set
	required  uint64 // our required set, FeatureMsgAddr2 included
	authTries int
	sessTries int // CLIENT_IDENTs and SESSION_RECONNECTs (server)

	inSeq     uint64 // last message seq received
	outSeq    uint64 // last message seq sent
	peerAcked uint64 // highest seq the peer acknowledged
	ackOwed   bool   // a lossless message arrived since our last ACK

	// Client session state (ClientConfig's, as RETRY, RETRY_GLOBAL and
	// RESET change it).
	cookie, serverCookie, connectSeq, globalSeq uint64

	want   int
	out    []byte
	pbuf   []byte
	events []Event
	taken  int // events the caller took with Events (cleared by Receive)
	err    *Error
}

// NewClient returns a connector whose Output already holds its banner:
// both sides send the banner at once, before anything arrives.
func NewClient(cfg ClientConfig) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &Conn{role: Client, state: StateBannerConnecting, client: cfg, limits: cfg.Limits}
	c.init(cfg.FeaturesSupported, cfg.FeaturesRequired)
	c.peerType = cfg.PeerType
	c.inSeq, c.outSeq, c.peerAcked = cfg.InSeq, cfg.OutSeq, cfg.OutSeq
	c.cookie, c.serverCookie, c.connectSeq, c.globalSeq = cfg.Cookie, cfg.ServerCookie, cfg.ConnectSeq, cfg.GlobalSeq
	return c, nil
}

// NewServer returns an acceptor whose Output already holds its banner.
func NewServer(cfg ServerConfig) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Lossy == nil {
		cfg.Lossy = defaultLossy
	}
	c := &Conn{role: Server, state: StateBannerAccepting, server: cfg, limits: cfg.Limits}
	c.init(cfg.FeaturesSupported, cfg.FeaturesRequired)
	return c, nil
}

func (c *Conn) init(sup, req uint64) {
	c.features = supported(sup)
	c.required = req | wire2.FeatureMsgAddr2
	c.ours = wire2.Banner{Supported: wire2.SupportedFeatures, Required: wire2.RequiredFeatures}
	c.out = wire2.AppendBanner(c.out, c.ours)
	// An msgr1 peer sends its 9-byte banner and waits: a reader that
	// waited for a whole msgr2 banner would never see it to refuse it.
	c.want = wire.BannerLen
}

// Role is the connection's side.
func (c *Conn) Role() Role { return c.role }

// State is the handshake's state.
func (c *Conn) State() State { return c.state }

// Established reports whether the session is open (StateReady).
func (c *Conn) Established() bool { return c.state == StateReady }

// Peer is what the handshake established; complete once Established.
func (c *Conn) Peer() Peer { return c.peer }

// Err is the fault that closed the connection, or nil.
func (c *Conn) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Seqs are the last message seq received (in_seq) and sent (out_seq).
func (c *Conn) Seqs() (in, out uint64) { return c.inSeq, c.outSeq }

// Want is how many bytes, counted from the first byte Receive did not
// consume, the next step needs: the banner's size, a preamble's 32 bytes,
// or a whole frame once its preamble has been checked against Limits (so
// at most Limits allow). A reader may wait for that many before calling
// Receive again.
func (c *Conn) Want() int { return c.want }

// Output returns the bytes to send, in order, and forgets them. The slice
// is valid until the next call on c: write or copy it first.
func (c *Conn) Output() []byte {
	b := c.out
	c.out = c.out[:0]
	return b
}

// Events returns what the last calls learned, in order, and forgets it.
// The slice, and the message sections in it, are valid until the next call
// on c; the sections also alias Receive's input, so the caller must keep
// those bytes as long as it uses them.
func (c *Conn) Events() []Event {
	e := c.events
	c.events, c.taken = c.events[:0], len(e)
	return e
}

// Receive consumes complete units (the banner, whole frames) from the
// start of in and returns how many bytes it used; the rest must be offered
// again: with more bytes behind it when it is shorter than Want, at once
// otherwise (Receive returned early, see below). Nothing is allocated
// for what a frame merely claims: lengths are checked on the preamble
// against Limits, and the frame is used in place once all of it is in in.
// Receive returns early, with bytes left, right after the unit that
// established the session (EventEstablished), so the caller can attach the
// session before any message is taken, and once one call has added 64 KiB
// of Output or 128 Events, so that a flood of small frames costs bounded
// memory between two drains: take Output and Events, then call it again
// with the rest.
// A non-nil error is a fault (*Error): the connection must be closed after
// writing Output; every later call returns the same error.
func (c *Conn) Receive(in []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	// Events the caller took last time may alias its read buffer (message
	// sections): drop those references rather than keep them in the
	// backing array until it is overwritten.
	clear(c.events[:c.taken])
	c.taken = 0
	used, out0, ev0 := 0, len(c.out), len(c.events)
	for {
		ready := c.state == StateReady
		n, err := c.step(in[used:])
		if err != nil {
			c.fail(err)
			return used, c.err
		}
		used += n
		if n == 0 || !ready && c.state == StateReady {
			// Stop once the session opens, so the caller can attach it
			// (and send what it queued) before any message is taken.
			break
		}
		if len(c.out)-out0 >= maxOutputPerReceive || len(c.events)-ev0 >= maxEventsPerReceive {
			// A buffer full of small frames (a keepalive flood) would
			// otherwise turn into as much Output and an Event per frame
			// in one call: return, and let the caller drain and call
			// again with the rest.
			break
		}
	}
	c.flushAck()
	return used, nil
}

// What one Receive call may add before it returns with bytes left: at
// least one unit is always consumed, so every call makes progress.
const (
	maxOutputPerReceive = 64 << 10
	maxEventsPerReceive = 128
)

// frameTag carries the tag being handled to fail.
type frameTag struct {
	tag wire2.Tag
	err error
}

func (e *frameTag) Error() string { return e.err.Error() }
func (e *frameTag) Unwrap() error { return e.err }

func inFrame(tag wire2.Tag, err error) error { return &frameTag{tag: tag, err: err} }

func (c *Conn) fail(err error) {
	e := &Error{Role: c.role, Peer: c.peerString(), State: c.state, Err: err}
	var ft *frameTag
	if errors.As(err, &ft) {
		e.Tag, e.Err = ft.tag, ft.err
	}
	c.err = e
	c.state = StateClosed
	c.want = 0
}

func (c *Conn) peerString() string {
	if c.role == Client {
		return c.client.Target.TypedString()
	}
	return c.server.PeerAddr.String()
}

// step consumes one unit from in: 0 bytes means it needs more.
func (c *Conn) step(in []byte) (int, error) {
	switch c.state {
	case StateClosed:
		return 0, nil
	case StateBannerConnecting, StateBannerAccepting:
		return c.readBanner(in)
	}
	p, h, err := c.preamble(in)
	if err == wire2.ErrShort {
		c.want = wire2.PreambleLen
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	f, n, err := wire2.DecodeFrame(in, c.limits)
	if err == wire2.ErrShort {
		c.want = int(p.FrameLen())
		return 0, nil
	}
	if err != nil {
		return 0, inFrame(p.Tag, err)
	}
	c.want = wire2.PreambleLen
	if f.Aborted {
		// The sender gave up on it after the preamble (late status
		// ABORTED): drop it and read on, as Ceph does.
		return n, nil
	}
	if err := h(c, f); err != nil {
		return 0, inFrame(p.Tag, err)
	}
	return n, nil
}

// preamble decodes and checks the preamble at the start of in, and finds
// the state's handler of its tag. The tag is judged on the preamble,
// before the frame is waited for: a peer cannot make us buffer a frame
// this state refuses anyway.
func (c *Conn) preamble(in []byte) (wire2.Preamble, handler, error) {
	p, _, err := wire2.DecodePreamble(in, c.limits)
	if err != nil {
		return p, nil, err
	}
	h, err := c.handlerFor(p.Tag)
	if err != nil {
		return p, nil, inFrame(p.Tag, err)
	}
	return p, h, nil
}

// Next is what the preamble of the next frame says, checked as Receive
// checks it.
type Next struct {
	Tag wire2.Tag
	// FrameLen is the whole frame's size on the wire, preamble included
	// (bounded by Limits).
	FrameLen uint64
	// MessageBytes is a MESSAGE's front + middle + data, what a receiver's
	// throttles take for it; 0 for a control frame.
	MessageBytes uint64
}

// Peek reads the preamble at the start of in without consuming anything,
// so that a reader can take its throttles for a MESSAGE before it buffers
// the body (Ceph throttles on the preamble too: ProtocolV2's
// handle_read_frame_preamble_main calls throttle_message for a MESSAGE
// before it reads a segment). It needs wire2.PreambleLen bytes and
// returns wire2.ErrShort before. It checks what Receive checks on the
// preamble (its crc, Limits, whether the state takes the tag), and a
// refusal is the fault Receive would return: the Conn is closed. Before
// the banners are exchanged there is no frame: ErrNoFrame, not a fault.
func (c *Conn) Peek(in []byte) (Next, error) {
	switch {
	case c.err != nil:
		return Next{}, c.err
	case c.state == StateBannerConnecting || c.state == StateBannerAccepting:
		return Next{}, ErrNoFrame
	}
	p, _, err := c.preamble(in)
	if err == wire2.ErrShort {
		c.want = wire2.PreambleLen
		return Next{}, err
	}
	if err != nil {
		c.fail(err)
		return Next{}, c.err
	}
	nx := Next{Tag: p.Tag, FrameLen: p.FrameLen()}
	if p.Tag == wire2.TagMessage {
		for i := 1; i < int(p.NumSegments); i++ {
			nx.MessageBytes += uint64(p.Segments[i].Len)
		}
	}
	return nx, nil
}

func (c *Conn) readBanner(in []byte) (int, error) {
	bn, n, err := wire2.DecodeBanner(in)
	if err == wire2.ErrShort {
		switch {
		case len(in) >= len(wire2.BannerPrefix)+2:
			// The length is known: the claimed payload (≤ 64 KiB by
			// its u16) is what the banner needs.
			c.want = len(wire2.BannerPrefix) + 2 + int(binary.LittleEndian.Uint16(in[len(wire2.BannerPrefix):]))
		case len(in) < wire.BannerLen:
			c.want = wire.BannerLen // enough to tell msgr1 from msgr2
		default:
			c.want = wire2.BannerLen
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("peer banner: %w", err)
	}
	rev1, err := wire2.Negotiate(c.ours, bn)
	if err != nil {
		return 0, fmt.Errorf("peer banner: %w", err)
	}
	if !rev1 {
		return 0, ErrRevision0
	}
	c.want = wire2.PreambleLen
	// Both sides answer the banner with HELLO: our entity type and the
	// peer's address as we see it (the connector: what it dialled).
	if c.role == Client {
		c.sendControl(wire2.TagHello, wire2.AppendHello(c.scratch(), wire2.Hello{EntityType: c.client.EntityType, PeerAddr: c.client.Target}))
		c.state = StateHelloConnecting
	} else {
		c.sendControl(wire2.TagHello, wire2.AppendHello(c.scratch(), wire2.Hello{EntityType: c.server.EntityType, PeerAddr: c.server.PeerAddr}))
		c.state = StateHelloAccepting
	}
	return n, nil
}

// handler handles one frame of the tag it is listed for.
type handler func(c *Conn, f wire2.Frame) error

// onPayload adapts a handler of a control frame's payload.
func onPayload(h func(*Conn, []byte) error) handler {
	return func(c *Conn, f wire2.Frame) error { return h(c, f.Payload()) }
}

// takes lists, per state, the frames it takes and their handlers; any
// other tag faults there, as Ceph's "not in ... state" checks do.
var takes = [...]map[wire2.Tag]handler{
	StateHelloConnecting: {wire2.TagHello: onPayload((*Conn).handleHello)},
	StateAuthConnecting: {
		wire2.TagAuthDone:      onPayload((*Conn).handleAuthDone),
		wire2.TagAuthBadMethod: onPayload((*Conn).handleAuthBadMethod),
		wire2.TagAuthReplyMore: func(*Conn, wire2.Frame) error {
			return fmt.Errorf("%w: auth none has a single round, got AUTH_REPLY_MORE", ErrUnexpectedFrame)
		},
	},
	StateAuthConnectingSign: {wire2.TagAuthSignature: onPayload((*Conn).handleAuthSignature)},
	StateSessionConnecting: {
		wire2.TagServerIdent:          onPayload((*Conn).handleServerIdent),
		wire2.TagIdentMissingFeatures: onPayload((*Conn).handleIdentMissingFeatures),
		// The server is connecting to us too and its connection wins the
		// race: Ceph's client faults and lets that one serve.
		wire2.TagWait: func(*Conn, wire2.Frame) error { return ErrWait },
	},
	StateSessionReconnecting: {
		wire2.TagSessionReconnectOK: onPayload((*Conn).handleReconnectOK),
		wire2.TagSessionRetry:       onPayload((*Conn).handleRetry),
		wire2.TagSessionRetryGlobal: onPayload((*Conn).handleRetryGlobal),
		wire2.TagSessionReset:       onPayload((*Conn).handleSessionReset),
		wire2.TagWait:               func(*Conn, wire2.Frame) error { return ErrWait },
	},
	StateHelloAccepting:    {wire2.TagHello: onPayload((*Conn).handleHello)},
	StateAuthAccepting:     {wire2.TagAuthRequest: onPayload((*Conn).handleAuthRequest)},
	StateAuthAcceptingSign: {wire2.TagAuthSignature: onPayload((*Conn).handleAuthSignature)},
	StateSessionAccepting: {
		wire2.TagClientIdent:      onPayload((*Conn).handleClientIdent),
		wire2.TagSessionReconnect: onPayload((*Conn).handleReconnect),
	},
	StateReady: {
		wire2.TagMessage:       (*Conn).handleMessage,
		wire2.TagAck:           onPayload((*Conn).handleAck),
		wire2.TagKeepalive2:    onPayload((*Conn).handleKeepalive),
		wire2.TagKeepalive2Ack: onPayload((*Conn).handleKeepaliveAck),
	},
	StateClosed: nil,
}

// handlerFor is the state's handler of tag, or why there is none.
func (c *Conn) handlerFor(tag wire2.Tag) (handler, error) {
	if h := takes[c.state][tag]; h != nil {
		return h, nil
	}
	return nil, ErrUnexpectedFrame
}

// payload decodes a whole control payload: the frame is complete, so a
// decoder's ErrShort means the payload is truncated, a protocol error.
func payload[T any](p []byte, what string, dec func([]byte) (T, int, error)) (T, error) {
	v, _, err := dec(p)
	if err == wire2.ErrShort {
		return v, fmt.Errorf("truncated %s payload (%d bytes)", what, len(p))
	}
	if err != nil {
		return v, fmt.Errorf("%s payload: %w", what, err)
	}
	return v, nil
}

// scratch is a buffer for a payload about to be framed into c.out, kept
// from frame to frame.
func (c *Conn) scratch() []byte { return c.pbuf[:0] }

func (c *Conn) sendControl(tag wire2.Tag, p []byte) {
	c.out = wire2.AppendControl(c.out, tag, p)
	c.pbuf = p[:0]
}

func (c *Conn) emit(e Event) { c.events = append(c.events, e) }

func (c *Conn) established() {
	c.state = StateReady
	c.emit(Event{Kind: EventEstablished, Peer: c.peer})
}
