// Package protocol is the msgr1 per-connection state machine (Ceph's
// ProtocolV1 inside AsyncConnection), I/O-free: it runs over the engine
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
package protocol
