// Package proto2 is the msgr2.1 (Ceph messenger protocol v2, revision 1)
// crc-mode connection state machine, for both roles: the connector
// (client) and the acceptor (server). It is pure: Receive takes the bytes
// that arrived, Output returns the bytes to send, Events says what
// happened (session established, with the peer's identity, features and
// global_id; a message with its seq; an ack; a keepalive or its ack); a
// fault is a returned *Error after which the connection must be closed. It
// reads no clock, draws no random numbers and keeps no registry: cookies,
// global_seqs and the global_id to assign come from ClientConfig and
// ServerConfig. The frames are package wire2's.
//
// One Conn is one TCP connection, as Ceph's ProtocolV2 inside an
// AsyncConnection, and its states carry ProtocolV2's names (State). Each
// waits for one thing:
//
//	client                                   server
//	BANNER_CONNECTING   the server's banner  BANNER_ACCEPTING   the client's banner
//	HELLO_CONNECTING    its HELLO            HELLO_ACCEPTING    its HELLO
//	AUTH_CONNECTING     AUTH_DONE            AUTH_ACCEPTING     AUTH_REQUEST
//	AUTH_CONNECTING_SIGN its AUTH_SIGNATURE  AUTH_ACCEPTING_SIGN its AUTH_SIGNATURE
//	SESSION_CONNECTING  SERVER_IDENT         SESSION_ACCEPTING  CLIENT_IDENT or SESSION_RECONNECT
//	SESSION_RECONNECTING  RECONNECT_OK, RETRY, RETRY_GLOBAL, RESET, WAIT
//	READY               MESSAGE, ACK, KEEPALIVE2, KEEPALIVE2_ACK (both)
//	CLOSED              nothing: a fault happened
//
// The exchange: both sides send the banner at once (NewClient and
// NewServer put it in Output) and answer the peer's with HELLO (our entity
// type, the peer's address as we see it); the client sends AUTH_REQUEST
// (auth none, crc mode only; to a monitor AUTH_MODE_MON with its name and
// global_id, to other daemons the auth none authorizer), the server
// answers AUTH_DONE (a monitor-mode client gets ServerConfig.GlobalID
// assigned, an authorizer keeps its own) and both send AUTH_SIGNATURE; the
// client sends CLIENT_IDENT, the server checks it (the target is one of
// its addresses, the client has every Ceph feature it requires) and
// answers SERVER_IDENT; the session is open. Then MESSAGE frames carry seq
// (ours, from 1) and ack_seq (the last seq we received); a lossless
// session also writes one ACK after each Receive that took messages;
// KEEPALIVE2 is answered with KEEPALIVE2_ACK.
//
// AUTH_SIGNATURE: Ceph signs the bytes the sender received from the peer's
// banner to the end of authentication (HMAC-SHA256 under the session key)
// and checks the peer's signature of what it sent. Auth none has no
// session key, and then Ceph sends and expects 32 zero bytes, not an HMAC
// (ProtocolV2::handle_auth_done, finish_auth, handle_auth_signature); the
// ceph-mon 16.2 captures carry exactly that both ways. So no pre-auth
// bytes are kept, and any other signature is a fault.
//
// Refused, each with a fault wrapping a typed error: a bad banner, an
// msgr1 banner, a peer requiring msgr2 features we lack or lacking
// REVISION_1 (msgr2.0 frames are not implemented); a frame with a bad
// crc, an unknown tag, a length over Limits, or a tag the state does not
// take (judged on the 32-byte preamble, before the frame is waited for);
// a truncated payload; an AUTH_REQUEST offering only secure mode
// (ErrSecureMode: AES-GCM frames need cephx session keys, and Ceph itself
// allows only crc with auth none, AuthRegistry::get_supported_modes; the
// server first sends AUTH_BAD_METHOD saying crc is what it has), or an
// AUTH_DONE choosing it; a bad signature; a CLIENT_IDENT for an address that is not
// ours or lacking required features (IDENT_MISSING_FEATURES is sent
// first); an ack of a seq never sent. An AUTH_REQUEST for another method
// (cephx) gets AUTH_BAD_METHOD and the client may retry with auth none,
// three requests at most. Nothing is allocated from a claimed length.
//
// ServerConfig.AcceptPeer lets the caller refuse a peer type at HELLO,
// before anything about the session is sent.
//
// Session reconnect: a lossless client given the server cookie of a
// session that opened before (ClientConfig.ServerCookie and the session's
// seqs) sends SESSION_RECONNECT instead of CLIENT_IDENT and follows the
// answer: SESSION_RECONNECT_OK (the session resumes; our out_seq is the
// server's msg_seq, the caller resends the rest), SESSION_RETRY and
// SESSION_RETRY_GLOBAL (reconnect again above the server's connect_seq
// or global_seq), SESSION_RESET (EventSessionReset, then CLIENT_IDENT) or
// WAIT (ErrWait: the peer's own connection wins a race). A server asks
// ServerConfig.Session, the caller's registry of sessions, what a
// lossless CLIENT_IDENT or a SESSION_RECONNECT gets; without it every
// SESSION_RECONNECT gets SESSION_RESET (full), as Ceph answers when it
// finds no session.
// Left to the caller: the sent list and resend, throttles, timers.
// For the throttles, Peek says from a frame's 32-byte preamble, checked
// as Receive checks it, what the frame is and how many message bytes it
// carries, without consuming it: a reader takes its throttles for a
// MESSAGE before it buffers the body, as Ceph does.
//
// Facts: Ceph's doc/dev/msgr2.rst and src/msg/async/ProtocolV2.cc,
// checked against the bytes of a real ceph-mon 16.2.15 in
// ../wire2/testdata/cephmon-16.2 and, live, by TestCephMonLive (our client,
// a real mon) and TestRadosClientLive (a real Ceph client, our server).
package proto2
