// Package rawepoll is the netmodels engine written the way Ceph's async
// messenger is (src/msg/async: Event.{h,cc}, EventEpoll.cc, Stack.{h,cc},
// PosixStack.cc), in Go but without the runtime's netpoller: epoll,
// eventfd, sockets, sendmsg and splice through golang.org/x/sys/unix.
//
// Layout, in Ceph's terms:
//
//   - center (center.go) is the EventCenter: an epoll set of file events
//     with read and write callbacks, loopkit's timer heap (time events)
//     and Execute queue (external events), woken through an eventfd. One
//     turn waits for at most maxEventsPerWait ready descriptors, then
//     runs due timers, then external events.
//   - worker (stack.go) is a Worker: one center driven by one goroutine
//     locked to its OS thread.
//   - Engine (stack.go) is the NetworkStack: N workers (Config.Workers),
//     loopkit's registry of listeners and connections for Shutdown,
//     listeners that hand each accepted socket to the least-loaded
//     worker, dialing with non-blocking connect, the splice pipe pool.
//   - conn is the connected socket with its read buffer (from a per-worker
//     pool), its loopkit.OutQueue (flushed with sendmsg, MSG_NOSIGNAL) and
//     its relay, if it splices.
//
// Every callback of a connection runs on its worker's thread, so handler
// state needs no lock; methods that other goroutines may call (Write,
// Close, Execute, AfterFunc, ...) post to the worker. The design notes and
// measurements are in spec/engine.md, "The rawepoll engine".
package rawepoll
