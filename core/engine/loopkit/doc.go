// Package loopkit is the machinery event-loop engines share, written once:
// a timer heap (Timers), an Execute queue with its wake-up handshake
// (ExecQueue), a bounded out-queue with high/low water and OnDrained
// (OutQueue), and the live set of listeners and connections with the
// Shutdown order (Registry, Group). It does no I/O, starts no goroutine
// and knows no protocol; an engine composes the pieces it needs and adds
// only how it waits, reads, writes and wakes. Each piece is usable alone.
//
// What each piece guarantees, and who may call what:
//
//   - Timers (one per loop): deadline order, equal deadlines in creation
//     order; Stop reports exactly whether it prevented fn, and a stopped
//     timer leaves the heap at once; a timer whose Owner is closed never
//     runs; Drop, DropAll and Close give the memory back, and Drop walks
//     only the owner's own timers (a list per owner), so closing
//     connections one by one under churn costs no heap scans. Add, Schedule,
//     Stop, Drop, Next and Len from any goroutine; PopDue, Take and
//     RunDue on the loop. The loop supplies the clock (int64 ns; Now and
//     Deadline are the monotonic one real engines share) and is told
//     through Init's arm when the earliest deadline moves earlier.
//     Schedule, Stop, PopDue/Take and RunDue do not allocate, except
//     when the owner map grows for a new owner. A PendingTimer stands in
//     for a timer set before its loop is known, with the same exact Stop.
//   - ExecQueue (one per loop): FIFO of Execute and Post functions;
//     Execute bounded by Config.ExecuteQueueLimit, failing with
//     engine.ErrExecuteQueueFull and nothing else (no fallback); Post
//     (engine events) bounded by the engine's construction. A push
//     reports whether the caller must wake the loop; the loop stops only
//     when Idle says so, which re-checks the queue, so no wake-up is
//     lost. ExecuteFor refuses a closed owner's function under the
//     queue's lock, so an engine that marks the owner closed before
//     posting its OnClose needs no wrapper. Execute, ExecuteFor, Post,
//     Len, Close and Wake (a wake-up with nothing to run, for a timer)
//     from any goroutine; Drain, Idle, Awake and
//     CloseIfIdle (a leaving loop's last drain drops nothing) on the
//     loop. The ring is given back after a burst.
//   - OutQueue (one per connection): pure state under the connection's
//     lock. Admit is all or nothing against OutQueueLimit and a refusal
//     owes an OnDrained; a rise above OutQueueHighWater owes one too;
//     Consume reports the fall to OutQueueLowWater that pays it. Copies of
//     small writes coalesce into pooled chunks (no allocation per write in
//     steady state); Writev slices are queued as given. A FIN follows
//     everything queued (CloseWrite, TakeFIN). Discard drops all on close.
//   - Registry and Group (one per engine): Listen/Dial refuse once
//     Shutdown began; Shutdown closes listeners, then every connection
//     with engine.ErrEngineClosed, then waits for the engine's goroutines
//     (and threads) bounded by ctx. Any goroutine.
//
// The loop, for the kit, is whatever serialises an engine's callbacks: a
// thread (rawepoll, dpdk), a gnet event loop, a token (serial), a lock
// (memengine).
package loopkit
