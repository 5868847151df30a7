package protocol

import (
	"fmt"
	"sort"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Policy is Ceph's Messenger::Policy for one peer type (§13).
type Policy struct {
	// Lossy: messages may be lost on a fault; nothing is kept for resend,
	// no ACKs are sent, a fault closes the session for good.
	Lossy bool
	// Server: never initiates a reconnect; a lossless server session goes to
	// STANDBY on a fault and waits for the peer.
	Server bool
	// Standby: a lossless connector with nothing to send goes to STANDBY
	// instead of reconnecting at once.
	Standby bool
	// Resetcheck: detect peer resets (connect_seq 0 on an existing session)
	// and tell the dispatcher.
	Resetcheck bool
	// RegisterLossyClients: register lossy server sessions (so a reconnect
	// from the same peer finds and replaces the old one).
	RegisterLossyClients bool

	FeaturesSupported uint64
	FeaturesRequired  uint64

	// ThrottleMessages and ThrottleBytes limit what connections of this
	// policy hold received but not yet dispatched (0: unlimited).
	ThrottleMessages int64
	ThrottleBytes    int64
}

// Preset names (Ceph's Policy factory functions).
var presets = map[string]Policy{
	"stateful_server":             {Server: true, Standby: true, Resetcheck: true, RegisterLossyClients: true},
	"stateless_registered_server": {Lossy: true, Server: true, RegisterLossyClients: true},
	"stateless_server":            {Lossy: true, Server: true},
	"lossless_peer":               {Standby: true, RegisterLossyClients: true},
	"lossless_peer_reuse":         {Standby: true, Resetcheck: true, RegisterLossyClients: true},
	"lossy_client":                {Lossy: true, RegisterLossyClients: true},
	"lossless_client":             {Resetcheck: true, RegisterLossyClients: true},
}

// PolicyByName returns a preset with features supported = FeaturesAll and
// the given required features.
func PolicyByName(name string, required uint64) (Policy, error) {
	p, ok := presets[name]
	if !ok {
		return Policy{}, fmt.Errorf("msgr: unknown policy %q (want one of %v)", name, PolicyNames())
	}
	p.FeaturesSupported = wire.FeaturesAll
	p.FeaturesRequired = required
	return p, nil
}

// PolicyNames lists the presets.
func PolicyNames() []string {
	var n []string
	for k := range presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ProtocolVersion is the sub-protocol version for a pair of entity types
// (§10): intra-cluster pairs use the cluster protocol, otherwise the
// connector uses the peer's client protocol and the acceptor its own.
func ProtocolVersion(my, peer wire.EntityType, connector bool) uint32 {
	if my == peer {
		switch my {
		case wire.EntityMon:
			return 13
		case wire.EntityOSD:
			return 10
		case wire.EntityMDS:
			return 36
		}
		return 0
	}
	t := my
	if connector {
		t = peer
	}
	switch t {
	case wire.EntityOSD:
		return 24
	case wire.EntityMDS:
		return 32
	case wire.EntityMon:
		return 15
	}
	return 0
}
