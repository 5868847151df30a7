// Package serial is plumbing for engine builders whose "loop" (the engine
// contract's unit of serialisation, spec/engine.md §1) is not a thread but
// a serialisation domain: a token that at most one goroutine holds at a
// time, plus an ordered, bounded queue of functions that whoever holds the
// token drains before giving it back. impl-goroutine and impl-netpoll both
// build their loops, Execute, AfterFunc, write side and connection
// lifecycle on it; it is engine plumbing, not protocol logic.
//
// The machinery every event-loop engine shares is core/engine/loopkit's:
// the ordered, bounded queue and its wake-up handshake (ExecQueue), the
// timer heap (Timers), the out-queue's state (OutQueue), the live set of
// listeners and connections with the Shutdown order (Registry, Group).
// What serial adds is what its I/O model needs: the token that stands in
// for a loop thread and the drainer goroutine that takes it, one runtime
// timer per loop, the direct write and the flusher goroutine over a
// Socket, and package net's accept loop, dial and socket hand-over.
//
// What a Loop guarantees:
//
//   - No overlap: every function run by the loop (posted, executed, a
//     timer) and every callback an engine runs between Acquire and
//     Release runs while holding the token, so two of them never overlap.
//     That is what lets handler state stay lock-free.
//   - Ordering: queued functions run in the order Post and Execute
//     accepted them (FIFO per loop, so also per submitting goroutine).
//     Timers fire in deadline order, equal deadlines in creation order.
//   - Bounds: Execute refuses with engine.ErrExecuteQueueFull once the
//     queue holds the limit given to New (Config.ExecuteQueueLimit); the
//     function is then not queued. Post (the engine's own events: OnClose,
//     OnDrained, read EOF, timer runs) is not limited, because each post is
//     bounded by the number of connections and pending timers. The queue's
//     memory is given back once it drains after a burst.
//   - Never inline, never deadlocks: Post and Execute only queue. Called
//     from inside a loop function (a callback, a timer, another Execute)
//     they return at once and the function runs after the current one,
//     still under the same token hold. Only engine goroutines call Acquire,
//     never a loop function, so the token cannot deadlock on itself.
//   - No idle cost: if nobody holds the token, Post takes it for a
//     short-lived drainer goroutine (counted in the engine's Group) that
//     empties the queue and exits. A function posted before an Acquire
//     starts has run when that Acquire returns, so an event the engine
//     posts (a splice's done, read EOF) is never overtaken by the
//     poster's next callback. An engine goroutine about to end that has
//     one function to run (netpoll's hang-up callback) uses Run instead:
//     Acquire, what is queued, the function, Release, on its own stack,
//     with no drainer goroutine.
//   - Timers of a closed owner never run, and a stopped timer leaves the
//     heap at once (spec/engine.md §6); a closing connection's timers are
//     dropped (loopkit.Timers.Drop), and when the last owner detaches the
//     runtime timer is stopped too.
//
// The write side, OutQueue (outqueue.go: loopkit.OutQueue plus the socket,
// the flusher and a splice's claim), embedded in a connection, provides
// engine.Conn's Write, Writev, OutQueued and CloseWrite over a small
// Socket interface (socket.go: TCPSocket for a *net.TCPConn):
//
//   - A write with nothing queued ahead is tried at once with one
//     non-blocking write(2)/writev(2) on the caller's goroutine; what the
//     kernel does not take is queued and a short-lived flusher goroutine
//     (counted in the Group) writes it with writev and exits when the
//     queue is empty. Write never blocks beyond the connection's mutex and
//     that one syscall.
//   - Bounds: at most Config.OutQueueLimit bytes queued; a write that
//     would pass it is refused whole with engine.ErrOutQueueFull, and
//     OnDrained is owed at the next fall to OutQueueLowWater (at once if
//     the queue is already there). A rise above OutQueueHighWater also
//     arms OnDrained (spec/engine.md §4). OnDrained is posted to the Loop,
//     never run on the flusher.
//   - Order: bytes go out in the order writes were accepted; CloseWrite's
//     FIN goes out after them. A claim (a splice writing the socket
//     directly) makes later writes queue until the claim ends.
//
// The lifecycle, Registry (registry.go: loopkit.Registry plus package
// net's side) and BaseConn (conn.go), is what both engines do around
// their I/O, identically: the live set of listeners and connections that
// Shutdown closes (listeners first, then every connection with
// ErrEngineClosed, then a bounded wait for the Group), the accept loop
// (Acceptor, acceptor.go: back-off on descriptor shortages, never dies;
// impl-gnet accepts with it too), Dial's checks and Near loop,
// and a connection's socket hand-over, OnOpen, close sequence and
// OnClose. The engine keeps its read path and its part of closing (its
// sockets), so only I/O stays in an engine module.
package serial
