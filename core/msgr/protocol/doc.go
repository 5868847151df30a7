// Package protocol is the messenger's per-connection state machine for
// msgr1 (Ceph's ProtocolV1 inside AsyncConnection) and, through
// core/msgr/proto2, msgr2.1 (sock2.go, session2.go), I/O-free: it runs over the engine
// contract (engine.Handler callbacks on a connection's loop) and is
// unit-tested on the in-memory engine with a fake clock.
//
// Two objects split Ceph's AsyncConnection:
//
//   - Session is the Connection users hold: peer, policy, connect_seq,
//     global_seq seen, out_seq/in_seq, the out-queue, the sent-but-unacked
//     list, keepalive state. It outlives sockets: a lossless session
//     reconnects, goes to standby, or adopts a new socket on replace. Its
//     fields are guarded by Session.mu because users send from any goroutine
//     and a replace moves it between loops.
//   - sock is one TCP connection (an engine.Handler): the handshake (connect
//     or accept side), the OPENED-state reader with partial consumption, and
//     the writer that batches frames into Writev. Its reader state is owned
//     by its loop.
//
// Endpoint is what a Messenger shares among its sessions: identity, global
// seq, policies and their throttles, the registry of sessions by peer
// address (for accept-side lookup and races), counters.
//
// Section numbers in comments refer to shared/spec/msgr-v1-wire.md.
//
// # Locks
//
// The locks, outermost first. A goroutine holding one may take only locks
// below it, never one above:
//
//  1. Endpoint.mu: the session registry (conns, all), accepted sockets not
//     yet attached, the listeners, stopped. The accept decision holds it
//     while it looks up and locks the existing session.
//  2. Session.mu: every field of one session (state, seqs, queues, socket,
//     timers, the delivery inbox). Code holding a Session.mu never takes
//     Endpoint.mu (MarkDown and fault unregister after unlocking) and never
//     a second Session.mu.
//  3. Leaves, each held only for a few field accesses and never while
//     taking another lock: Endpoint.addrMu (our address), Endpoint.thMu
//     (the policy throttles map), each throttle.Throttle's lock (a grant's
//     callback runs later, through the waiter's loop Execute).
//
// Engine and clock calls (Dial, Close, Execute, AfterFunc, Write) are made
// with Session.mu held; this relies on the engine contract that such calls
// only queue work for the loop and never run a handler callback, timer or
// Execute function before returning.
//
// No lock is held while the dispatcher runs. Hooks.Deliver is called from
// Session.deliverLocked after it unlocks Session.mu; the session delivers
// its messages one at a time in seq order, and a socket that accepts a seq
// while another goroutine is delivering for the session (after a replace,
// on another loop) appends the message to the session's inbox instead of
// waiting. Connection events (HandleConnect, HandleAccept, HandleReset,
// HandleRemoteReset, HandleRefused) are collected under the locks in an
// events value and emitted after every lock is released. A hook may
// therefore call SendMessage, SendKeepalive, MarkDown, Endpoint.Connect or
// Endpoint.Sessions. In package msgr the dispatch queue's lock and
// Messenger.mu are leaves too: Dispatch and the Handle* methods run on the
// dispatch goroutine after the item has been popped, and FastDispatch runs
// inside Hooks.Deliver.
//
// # Ceph's states and ours
//
// Ceph names its states twice: the pre-Nautilus AsyncConnection (STATE_*,
// one enum for transport and protocol) and, since the split, the transport
// states of AsyncConnection (STATE_NONE, STATE_CONNECTING,
// STATE_CONNECTING_RE, STATE_ACCEPTING, STATE_CONNECTION_ESTABLISHED,
// STATE_CLOSED) plus ProtocolV1's State enum (NONE, START_CONNECT, ...,
// STANDBY). Ours are split by object: a Session is connecting, open,
// standby, backoff or closed (Session.State); a sock's reader waits for one
// input unit (rstate, rs*). Where Ceph has a state per partial read, ours
// is one state over OnData's partial consumption (wire.ErrShort until the
// unit is complete).
//
//	Ceph (AsyncConnection STATE_* / ProtocolV1)        ours
//	NONE                                               no state: Endpoint.Connect dials at once (stConnecting)
//	STATE_CONNECTING, STATE_CONNECTING_RE / START_CONNECT, CONNECTING
//	                                                   stConnecting, engine Dial until OnOpen (the engine owns the TCP connect)
//	CONNECTING_WAIT_BANNER_AND_IDENTIFY                rsConnBanner (banner, server addr, our addr as seen)
//	CONNECTING_SEND_CONNECT_MSG                        no state: the connect is written when rsConnBanner completes, or on a RETRY_* / RESETSESSION reply
//	STATE_CONNECTING_WAIT_CONNECT_REPLY(_AUTH), STATE_CONNECTING_WAIT_ACK_SEQ
//	                                                   rsConnReply (reply, authorizer reply and, after SEQ, the u64 as one unit)
//	STATE_CONNECTING_READY                             becomeOpenLocked
//	STATE_ACCEPTING / START_ACCEPT, ACCEPTING          accepted sock: OnOpen writes banner and addresses
//	STATE_ACCEPTING_WAIT_BANNER_ADDR                   rsAcceptBanner
//	STATE_ACCEPTING_WAIT_CONNECT_MSG(_AUTH) / ACCEPTING_WAIT_CONNECT_MSG_AUTH
//	                                                   rsAcceptConnect (connect and authorizer as one unit)
//	ACCEPTING_HANDLED_CONNECT_MSG                      handleConnect / decideLocked (a refusal stays in rsAcceptConnect)
//	STATE_ACCEPTING_WAIT_SEQ                           rsAcceptSeq
//	STATE_ACCEPTING_READY                              becomeOpenLocked
//	STATE_OPEN / OPENED; STATE_CONNECTION_ESTABLISHED  Session stOpen; sock rsTag (waiting for a tag)
//	STATE_OPEN_KEEPALIVE2, STATE_OPEN_KEEPALIVE2_ACK, STATE_OPEN_TAG_ACK
//	                                                   rsFixed (sock.tag says which payload)
//	STATE_OPEN_MESSAGE_HEADER                          rsHeader
//	STATE_OPEN_MESSAGE_THROTTLE_MESSAGE / THROTTLE_MESSAGE
//	                                                   rsThrottle, tIdx 0 (policy messages)
//	STATE_OPEN_MESSAGE_THROTTLE_BYTES / THROTTLE_BYTES rsThrottle, tIdx 1 (policy bytes)
//	STATE_OPEN_MESSAGE_THROTTLE_DISPATCH_QUEUE / THROTTLE_DISPATCH_QUEUE
//	                                                   rsThrottle, tIdx 2 and 3 (dispatch messages, dispatch bytes)
//	STATE_OPEN_MESSAGE_READ_FRONT, _MIDDLE, _DATA_PREPARE, _DATA / READ_MESSAGE_FRONT
//	                                                   rsBody (front, middle, data and footer into one buffer)
//	STATE_OPEN_MESSAGE_READ_FOOTER_AND_DISPATCH / READ_FOOTER_AND_DISPATCH
//	                                                   finishMessage, then Session.deliverLocked
//	STATE_OPEN_TAG_CLOSE                               readTag on TAG_CLOSE: closeByPeer
//	STATE_WAIT_SEND                                    no state: the writer is sock.flush; a full engine out-queue sets blocked until OnDrained
//	STATE_STANDBY / STANDBY                            stStandby
//	STATE_WAIT / WAIT                                  stBackoff with waitPending (redial after MaxBackoff; the racing accept usually wins first)
//	back-off (a delayed connect in STATE_CONNECTING)   stBackoff
//	STATE_CLOSED / CLOSED                              Session stClosed; sock rsDead
//
// # Listeners
//
// An endpoint has at most one listener per protocol; Bind adds one, so an
// endpoint may listen on msgr1 and msgr2 at once, as Ceph daemons do.
// Each accepted socket speaks its listener's protocol (the Bind closure
// passes it to newAcceptHandler); sessions, throttles and hooks are the
// endpoint's. The addresses follow Ceph's addrvec (v2, then v1): the
// msgr1 banner, an msgr1 connector's address and the msgr1 connect race
// use the msgr1 listener's address (legacyAddr, Ceph's legacy entry), an
// msgr2 acceptor's SERVER_IDENT lists the address the client dialled and
// then the msgr1 one (serverIdentAddrs), and a CLIENT_IDENT targeting
// either is accepted.
//
// # msgr2
//
// An endpoint bound with "v2:HOST:PORT", and a Connect to an address of
// type msgr2, speak msgr2.1 in crc mode (Ceph's ProtocolV2): the same
// Session and sock, with a proto2.Conn (package msgr/proto2, I/O-free)
// doing the frames and the handshake (sock2.go, read_v2.go,
// writer_v2.go). Everything else is shared with msgr1: throttles, the
// body buffer and its progress timer, the batching writer, timers,
// counters, fault injection, the session's fault policy, and for
// lossless sessions the sent list, requeue, resend, ACKs (one per
// written batch, as msgr1's), standby and back-off. A lossless session
// resumes with SESSION_RECONNECT (its cookies, global_seq, connect_seq,
// in_seq); the acceptor's decision against the registry is session2
// (Ceph's handle_reconnect and handle_existing_connection). The states:
//
//	Ceph ProtocolV2                                   ours
//	START_CONNECT, START_ACCEPT, BANNER_*, HELLO_*, AUTH_*, SESSION_*
//	                                                   rsV2Handshake (proto2's State says which)
//	READY / READ_FRAME_PREAMBLE                        rsV2Frame (proto2.Conn.Peek judges the preamble)
//	THROTTLE_MESSAGE, THROTTLE_BYTES, THROTTLE_DISPATCH_QUEUE
//	                                                   rsThrottle, taken on the preamble's front+middle+data
//	READ_FRAME_SEGMENT, READ_FRAME_EPILOGUE            rsBody (the whole frame into the message's buffer)
//	handle_message                                     finishFrame2, then Session.deliverLocked
//	SESSION_RECONNECTING                               rsV2Handshake (proto2's StateSessionReconnecting)
//	SESSION_ACCEPTING: handle_reconnect, handle_existing_connection, reuse_connection
//	                                                   session2: decide2Locked, reuse2Locked (the socket attached under the locks)
//	WAIT (client)                                      stBackoff with waitPending, as msgr1's
//	STANDBY                                            stStandby, as msgr1's
//
// Ceph's write side (ProtocolV1 can_write: NOWRITE, REPLACING, CANWRITE,
// CLOSED) has no state of its own here: SendMessage always queues on the
// session (up to its limits), and the writer runs only while the session
// is open on a socket (scheduleFlushLocked).
package protocol
