// Package memengine is a deterministic in-memory engine.Engine for unit
// tests of protocol code (the messenger, the proxy). It opens no sockets:
// Listen binds a virtual address and Dial connects to it through a pair of
// in-memory pipes, modelled on gVisor's channel link endpoint and on the
// test pipe in x/net/http2 (netconn_test.go).
//
// # Model
//
// Each Engine has one loop goroutine that runs every callback of its
// connections, so callbacks are never concurrent (DialOptions.Near is
// trivially honoured; Config.Workers is ignored). Each direction of a
// connection is three bounded buffers:
//
//	Write ──► out-queue ──flush──► pipe ──read──► read buffer ──► OnData
//	          OutQueueLimit        PipeBufferSize ReadBufferSize
//
// The pipe stands for the kernel's socket buffers. A reader that calls
// PauseRead stops reading the pipe; once the pipe holds PipeBufferSize bytes
// the writer's bytes stay in its out-queue (OutQueued grows), and once a
// Write would take it past OutQueueLimit, Write fails with
// engine.ErrOutQueueFull. When the reader resumes and the out-queue falls to
// OutQueueLowWater, the writer gets OnDrained. With a paused reader that has
// read nothing, a writer can therefore queue exactly
// PipeBufferSize+OutQueueLimit bytes. The high-water mark is checked when
// Write appends (before any flush). A refused Write also owes the writer an
// OnDrained, even if the queue never rose above the high-water mark, so a
// writer waiting for OnDrained never hangs.
//
// OnData is offered the unconsumed bytes again at once while the handler
// consumes something and bytes remain (one message per call works); after a
// call that consumed nothing, the bytes wait for newer ones or ResumeRead.
//
// # Close and half-close
//
//   - CloseWrite: the peer reads every byte queued before it, then gets
//     OnReadEOF; both sides may go on writing the other way.
//   - Close: the out-queue and unread input are discarded (so Write then
//     Close in one callback sends nothing: use CloseWrite to flush first),
//     OnClose(c, nil) follows. The peer reads the bytes already in the pipe,
//     then gets OnReadEOF, as after a FIN. If the peer then sends anything
//     (or still had bytes queued), it gets OnClose with a
//     *net.OpError{Op: "write"} wrapping syscall.ECONNRESET, as TCP answers
//     data sent to a closed socket with a reset.
//   - A reader that consumes nothing from a full read buffer is closed with
//     an error matching engine.ErrReadBufferFull; its peer sees EOF.
//   - Shutdown closes the engine's connections with engine.ErrEngineClosed,
//     in creation order; a peer on another engine sees EOF.
//   - Execute functions queued before a close run before OnClose; once the
//     connection is closing, Execute fails with engine.ErrClosed.
//
// # Addresses, networks and faults
//
// Addresses are virtual: Listen("127.0.0.1:0") picks a port from 20000 up,
// the dialing side gets an ephemeral port from 32768 up, a wildcard listener
// (0.0.0.0 or ::) takes dials to any address of its family. No name is
// resolved except "localhost". A Dial to an address with no listener is
// reported on the loop by OnClose with a *net.OpError{Op: "dial"} wrapping
// syscall.ECONNREFUSED; Engine.Blackhole makes dials hang until their
// timeout instead (ETIMEDOUT). Engines sharing a Network (Options.Network)
// can dial each other; New otherwise gives each engine a private one, and
// NewEngine puts all its engines on one process-wide Network. InjectReset
// and Options.Fault (FaultReset, FaultBlackhole after N bytes) break
// connections on purpose.
//
// Connections implement engine.Splicer (spec/engine.md section 9): once the
// destination's out-queue has drained, the relay moves bytes from the
// source's buffers straight into the destination's pipe, stops while that
// pipe is full (PauseRead does not stop it), holds the destination's later
// writes and FIN until it ends, and reports EOF through done instead of
// OnReadEOF.
//
// # Determinism
//
// With a FakeClock nothing happens on its own: the loop runs only inside
// Settle (and FakeClock.Advance, which settles, and Shutdown). Calls made
// from the test goroutine between two Settles are queued in call order;
// Settle then runs the network's engines until none has work left, and
// Advance moves time, firing timers in deadline order (FIFO for equal
// deadlines) and settling after each deadline. Each loop serves its run
// queue in FIFO order and each connection's turn goes through fixed steps
// (open, Execute functions, read and OnData, EOF, flush and OnDrained,
// close), so the same calls always yield the same callbacks in the same
// order, whatever the goroutine scheduling, and event logs of two runs can
// be compared line for line. A test can still Execute a blocking function
// (to hold the loop) by calling Settle from another goroutine.
//
// # Shared machinery
//
// The timers (the engine's and the FakeClock's) are loopkit.Timers heaps
// and each connection's out-queue is a loopkit.OutQueue, as in every
// engine. The Execute queue and the connection registry are the engine's
// own, because loopkit's do not fit this model: an Execute function runs
// at a fixed step of its connection's turn (after open, before read), not
// in one loop-wide FIFO interleaved with other connections' events, and
// that order is what makes two runs' logs equal; the limit is counted
// over the engine's one loop, under the network lock that already guards
// every queue, so ExecQueue's own mutex and wake-up handshake would only
// be dead weight. Shutdown closes connections in creation order (a map's
// order is random) and the listeners live in the Network's address table,
// shared by its engines, which loopkit.Registry cannot hold.
//
// A protocol unit test therefore reads as a script (see Example):
//
//	clk := memengine.NewFakeClock(time.Time{})
//	e := memengine.New(memengine.Options{Clock: clk, PipeBufferSize: 16})
//	l, _ := e.Listen("127.0.0.1:0", newServerHandler)
//	c, _ := e.Dial(l.Addr().String(), client, engine.DialOptions{})
//	e.Settle()               // both sides open, handshake bytes exchanged
//	clk.Advance(time.Second) // keepalive timers fire, their effects settle
//
// Settle and Advance must be called from a test goroutine, never from a
// callback. With the real clock (NewEngine, or Options.Clock nil) the loop
// runs on its own like any engine's, and the package passes the shared
// engine test kit (enginetest.Run) under -race.
package memengine
