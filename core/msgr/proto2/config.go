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
	// Cookie). The server's SERVER_IDENT flag decides in the end.
	Lossy  bool
	Cookie uint64
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
	// Features as in ClientConfig; a client lacking a required one gets
	// IDENT_MISSING_FEATURES.
	FeaturesSupported uint64
	FeaturesRequired  uint64
	// Limits bound what the peer may claim in a frame's preamble.
	Limits wire2.Limits
}

var errConfig = errors.New("msgr2 config")

func (c *ClientConfig) check() error {
	switch {
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: a client needs an address for CLIENT_IDENT", errConfig)
	case !c.Lossy && c.Cookie == 0:
		return fmt.Errorf("%w: a lossless client needs a non-zero cookie", errConfig)
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
