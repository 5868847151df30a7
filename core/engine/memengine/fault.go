package memengine

import "github.com/netmodels/netmodels/core/engine"

// FaultAction is what a FaultPlan does once its byte budget is spent.
type FaultAction uint8

const (
	// FaultNone leaves the connection alone.
	FaultNone FaultAction = iota
	// FaultReset delivers the first After bytes and then resets the
	// connection: the writer gets OnClose with a *net.OpError{Op: "write"}
	// wrapping ECONNRESET, the reader, once it has read the bytes before the
	// break, OnClose with a *net.OpError{Op: "read"} wrapping ECONNRESET.
	FaultReset
	// FaultBlackhole delivers the first After bytes and silently drops every
	// later byte in that direction: the writer's queue drains as if the bytes
	// were sent, the reader never sees them. This is a stalled link, for
	// keepalive and timeout tests.
	FaultBlackhole
)

// FaultPlan breaks one direction of one connection after a number of bytes.
type FaultPlan struct {
	// After is how many bytes the direction carries intact.
	After int64
	// Action happens when the writer sends byte After+1.
	Action FaultAction
}

// FaultHook chooses a FaultPlan for the sending direction of c, once, when
// the connection is established (before OnOpen), for the dialing side
// (dialer true) and the accepted side. It runs on the loop.
type FaultHook func(c engine.Conn, dialer bool) FaultPlan
