// Package msgr is the Ceph msgr1 messenger API in Ceph's terms: a Messenger
// binds, starts with a Dispatcher, connects to peers by address and entity
// type, and shuts down; a Connection sends messages and keepalives and is
// marked down; Policy presets choose lossy/lossless, server/client and the
// throttles per peer type. The protocol itself lives in msgr/protocol, the
// frames in msgr/wire; every byte goes through an engine.Engine.
//
// Threading: Dispatcher.Dispatch runs on the messenger's dispatch goroutine
// (Ceph's DispatchQueue thread), one message at a time, strictly by
// priority and FIFO within a priority, so per-connection order holds among
// messages of equal priority. A FastDispatcher gets eligible messages on
// the connection's loop instead (it must not block). Everything received
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
