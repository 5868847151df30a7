package proto2

import (
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// ClientConfig is what a connector knows before it dials. Everything the
// machine cannot derive from the wire is here, so it needs no clock, no
// randomness and no registry.
type ClientConfig struct {
	// EntityType is ours (HELLO); AuthID our auth name's id ("admin" for
	// client.admin, sent in the auth none payload).
	EntityType wire.EntityType
	AuthID     string
	// EntityNum is the number of our entity name sent in CLIENT_IDENT; a
	// negative value means "the global_id AUTH_DONE gives us", which is
	// what a Ceph client is named after it authenticates to a monitor.
	EntityNum int64
	// GlobalID is the global_id we already hold (0 for a new client); a
	// monitor assigns one in AUTH_DONE, which we adopt.
	GlobalID uint64
	// PeerType is the entity type we dial; its HELLO must say so. A
	// monitor is asked with AUTH_MODE_MON, other peers get an auth none
	// authorizer (as Ceph's MonClient::get_auth_request).
	PeerType wire.EntityType
	// Target is the address we dial, as the peer's address vector lists it
	// (v2:IP:PORT/NONCE); it goes into HELLO and CLIENT_IDENT, and
	// SERVER_IDENT must contain it.
	Target wire.EntityAddr
	// Addrs are ours for CLIENT_IDENT. An address with a blank IP takes the
	// IP the peer's HELLO says it sees, keeping its type, port and nonce
	// (Ceph's learned_addr). At least one is needed.
	Addrs []wire.EntityAddr
	// GlobalSeq is this connection attempt's global_seq.
	GlobalSeq uint64
	// Lossy asks for a lossy session (a lossless one needs a non-zero
	// Cookie, our client_cookie). The server's SERVER_IDENT flag decides
	// in the end.
	Lossy  bool
	Cookie uint64
	// ServerCookie, when not zero, resumes the lossless session whose
	// SERVER_IDENT gave it (Ceph's server_cookie): SESSION_RECONNECT with
	// both cookies, GlobalSeq, ConnectSeq and InSeq is sent instead of
	// CLIENT_IDENT, and the server answers SESSION_RECONNECT_OK, RETRY,
	// RETRY_GLOBAL, RESET or WAIT.
	ServerCookie uint64
	ConnectSeq   uint64
	// InSeq is the last message seq the session received (0 for a new
	// session): SESSION_RECONNECT's msg_seq, and older seqs are dropped.
	// OutSeq is the seq after which the session numbers what it sends
	// next (its out_seq, unacknowledged messages requeued); SentSeq the
	// highest it ever sent (at least OutSeq). A SESSION_RECONNECT_OK must
	// say the server has received at least OutSeq and at most SentSeq.
	InSeq, OutSeq, SentSeq uint64
	// ResetCookie is the client_cookie of the new session a full
	// SESSION_RESET starts (Ceph draws a new one); 0 keeps Cookie.
	ResetCookie uint64
	// GlobalSeqAbove answers SESSION_RETRY_GLOBAL: a global_seq of ours
	// above the one the server has seen (Ceph's get_global_seq(gs)); nil:
	// seen+1.
	GlobalSeqAbove func(seen uint64) uint64
	// CallerAcks: the caller writes ACKs (SendAck) when it batches its
	// output; otherwise one ACK follows each Receive that took messages
	// of a lossless session.
	CallerAcks bool
	// Features are our Ceph feature bits; FeatureMsgAddr2 is always
	// required, as Ceph's msgr2_required. Zero Supported means
	// wire.FeaturesAll.
	FeaturesSupported uint64
	FeaturesRequired  uint64
	// Limits bound what the peer may claim in a frame's preamble.
	Limits wire2.Limits
}

// ServerConfig is what an acceptor knows when a connection arrives.
type ServerConfig struct {
	// EntityType and EntityNum are our entity name (mon.0: EntityMon, 0).
	EntityType wire.EntityType
	EntityNum  int64
	// Addrs are our bound addresses (SERVER_IDENT); a CLIENT_IDENT's
	// target must be one of them, exactly (type, nonce, IP and port).
	Addrs []wire.EntityAddr
	// PeerAddr is the client's address as the socket reports it; HELLO
	// tells the client this (typed v2, nonce 0, as Ceph does).
	PeerAddr wire.EntityAddr
	// GlobalID is what AUTH_DONE assigns to a client that asks a monitor
	// for one (AUTH_MODE_MON); the caller keeps it unique. Not zero. A
	// peer presenting an authorizer keeps the global_id it carries.
	GlobalID uint64
	// GlobalSeq is our global_seq for SERVER_IDENT.
	GlobalSeq uint64
	// Lossy is the policy for a peer entity type (Ceph's
	// messenger->get_policy(peer_type).lossy, known once HELLO arrives);
	// nil: lossy for clients, lossless for daemons.
	Lossy func(peer wire.EntityType) bool
	// AcceptPeer, if set, is asked at HELLO, as soon as the peer's entity
	// type is known, whether we serve it; an error is the fault that
	// closes the connection (a messenger refuses a peer type whose policy
	// it cannot honour: msgr2 lossless sessions until SESSION_RECONNECT
	// exists). Nothing about the session has been sent yet then.
	AcceptPeer func(peer wire.EntityType) error
	// Cookie is our server_cookie for a lossless session. Not zero.
	Cookie uint64
	// Session, if set, decides what a lossless peer's CLIENT_IDENT or
	// SESSION_RECONNECT gets, with the registry of sessions only the
	// caller has (Ceph's lookup_conn and handle_existing_connection /
	// handle_reconnect): a new or resumed session (SERVER_IDENT or
	// SESSION_RECONNECT_OK), SESSION_RESET, SESSION_RETRY,
	// SESSION_RETRY_GLOBAL, WAIT, or a fault. It is called inside
	// Receive, once the request passed the checks of its own (addresses,
	// features). Nil: every lossless CLIENT_IDENT opens a new session and
	// every SESSION_RECONNECT gets SESSION_RESET (full), as Ceph answers
	// when it has no session to resume. Lossy sessions never ask it.
	Session func(SessionRequest) Decision
	// CallerAcks as in ClientConfig.
	CallerAcks bool
	// Features as in ClientConfig; a client lacking a required one gets
	// IDENT_MISSING_FEATURES.
	FeaturesSupported uint64
	FeaturesRequired  uint64
	// RequiredFor, if set, adds the features a peer of a given entity
	// type must have (Ceph's per-type policy.features_required): a client
	// lacking one gets IDENT_MISSING_FEATURES, as for FeaturesRequired.
	RequiredFor func(peer wire.EntityType) uint64
	// Limits bound what the peer may claim in a frame's preamble.
	Limits wire2.Limits
}

var errConfig = errors.New("msgr2 config")

func (c *ClientConfig) check() error {
	switch {
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: a client needs an address for CLIENT_IDENT", errConfig)
	case !c.Lossy && c.Cookie == 0 && c.ServerCookie == 0:
		// (A session resumed may have cookie 0: a lossy client the
		// server made lossless, as Ceph allows.)
		return fmt.Errorf("%w: a lossless client needs a non-zero cookie", errConfig)
	case c.ServerCookie != 0 && c.Lossy:
		return fmt.Errorf("%w: a lossy client has no session to resume", errConfig)
	case c.SentSeq < c.OutSeq:
		return fmt.Errorf("%w: SentSeq %d below OutSeq %d", errConfig, c.SentSeq, c.OutSeq)
	}
	return nil
}

func (c *ServerConfig) check() error {
	switch {
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: a server needs its addresses", errConfig)
	case c.GlobalID == 0:
		return fmt.Errorf("%w: a server needs a non-zero global_id to assign", errConfig)
	case c.Cookie == 0:
		return fmt.Errorf("%w: a server needs a non-zero cookie", errConfig)
	}
	return nil
}

func supported(f uint64) uint64 {
	if f == 0 {
		return wire.FeaturesAll
	}
	return f
}

// defaultLossy is Ceph's usual policy set: clients are lossy, daemons
// talk to each other losslessly.
func defaultLossy(peer wire.EntityType) bool { return peer == wire.EntityClient }

// SessionRequest is what a lossless peer asks for, for
// ServerConfig.Session: a new session (CLIENT_IDENT) or to resume one
// (SESSION_RECONNECT).
type SessionRequest struct {
	// Reconnect: SESSION_RECONNECT; otherwise CLIENT_IDENT.
	Reconnect bool
	// Peer is the peer as far as known: its type (HELLO), addresses,
	// global_seq and client cookie (Cookie); for CLIENT_IDENT also its
	// number and features. Peer.Addrs[0] is set (an ident without an
	// address is refused before).
	Peer Peer
	// ServerCookie, ConnectSeq and MsgSeq (the last seq the peer
	// received) of a SESSION_RECONNECT.
	ServerCookie, ConnectSeq, MsgSeq uint64
}

// Reply says how ServerConfig.Session answers a SessionRequest.
type Reply uint8

// Replies.
const (
	// ReplyAccept opens the session: SERVER_IDENT (CLIENT_IDENT) or
	// SESSION_RECONNECT_OK carrying Decision.InSeq (SESSION_RECONNECT).
	ReplyAccept Reply = iota
	// ReplyReset: SESSION_RESET with Decision.Full (the session is
	// unknown, or the peer's cookie is not the session's).
	ReplyReset
	// ReplyRetry: SESSION_RETRY with Decision.Seq, our connect_seq (the
	// peer's is stale).
	ReplyRetry
	// ReplyRetryGlobal: SESSION_RETRY_GLOBAL with Decision.Seq, the
	// peer's global_seq we have seen (the peer's is stale).
	ReplyRetryGlobal
	// ReplyWait: WAIT, our own connection to the peer wins a race.
	ReplyWait
	// ReplyRefuse: the connection faults with Decision.Err (a stale
	// connection, a stopped endpoint).
	ReplyRefuse
)

// Decision is ServerConfig.Session's answer. For ReplyAccept, InSeq is
// the session's last received seq (older ones are dropped; RECONNECT_OK
// carries it) and OutSeq the seq after which it numbers what it sends
// next; both are 0 for a new session. After any reply but ReplyAccept
// and ReplyRefuse the server waits for the peer's next CLIENT_IDENT or
// SESSION_RECONNECT, as Ceph does.
type Decision struct {
	Reply         Reply
	Full          bool
	Seq           uint64
	InSeq, OutSeq uint64
	Err           error
}
