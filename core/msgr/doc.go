// Package msgr is the Ceph messenger API in Ceph's terms: a Messenger
// binds, starts with a Dispatcher, connects to peers by address and entity
// type, and shuts down; a Connection sends messages and keepalives and is
// marked down; Policy presets choose lossy/lossless, server/client and the
// throttles per peer type. The protocol itself lives in msgr/protocol, the
// frames in msgr/wire; every byte goes through an engine.Engine.
//
// The messenger speaks msgr1 and, on a "v2:" address (Bind, ConnectTo),
// msgr2.1 in crc mode (msgr/proto2), lossy and lossless sessions (a
// lossless one resumes after a fault with SESSION_RECONNECT); secure mode
// is not offered (it needs cephx session keys).
//
// A messenger may listen on both protocols, as Ceph daemons do: Bind
// once with "HOST:PORT" (or "v1:HOST:PORT") and once with "v2:HOST:PORT".
// Both listeners share the sessions, throttles and the dispatcher; Addrs
// is the address vector (v2, then v1, Ceph's order), ListenAddrs the
// sockets.
//
// # Choosing an engine
//
// New takes any engine.Engine; the messenger never opens a socket itself,
// and several messengers may share one engine (Shutdown leaves it running;
// the program shuts it down last). Build one with its module's New and an
// engine.Config (Workers is the number of loops):
//
//	eng, err := goroutine.New(engine.Config{Workers: 4}) // github.com/netmodels/netmodels/impl-goroutine
//	m, err := msgr.New(eng, msgr.Config{Name: "osd.0", Policy: "stateful_server"})
//
// impl-goroutine (package goroutine: net.TCPConn, a goroutine per
// connection) is the simplest choice; impl-rawepoll, impl-gnet and
// impl-netpoll are event-loop engines with the same constructor, and
// impl-dpdk (build tag dpdk) runs on DPDK with a userspace TCP stack.
// README.md compares them and lists what each cannot do. core/engine/memengine is the
// deterministic in-memory engine for tests and examples (see Example).
//
// Threading: Dispatcher.Dispatch runs on the messenger's dispatch goroutine
// (Ceph's DispatchQueue thread), one message at a time, strictly by
// priority and FIFO within a priority, so per-connection order holds among
// messages of equal priority. A FastDispatcher gets eligible messages on
// the connection's loop instead (it must not block). No lock of the
// messenger is held while a Dispatcher or FastDispatcher method runs, so
// they may call SendMessage, MarkDown or ConnectTo (lock order:
// msgr/protocol's package doc). Everything received
// and not yet dispatched is bounded by the dispatch throttles (and the
// policy throttles); while one is exhausted the connection stops reading.
//
// Workers: the engine's Config.Workers sets the number of loops. Which
// loop a new connection lands on is the engine's choice: the contract has
// no "least-loaded" hook, so engines are expected to pick the loop with the
// fewest connections on accept and dial (Ceph's NetworkStack::get_worker).
// A contract method such as `Engine.Loads() []int` or a placement callback
// in Listen would let the messenger choose itself.
package msgr
