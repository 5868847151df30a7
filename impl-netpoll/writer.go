package netpollengine

// The write path does not use netpoll's Writer. netpoll's Flush blocks the
// caller until the kernel took everything (the contract's Write never
// blocks); while it waits it switches the fd's epoll interest to
// EPOLLIN|EPOLLOUT and back to EPOLLIN (PollR2RW/PollRW2R), which would
// silently undo a PauseRead; and after a peer FIN netpoll deregisters and
// closes its fd, so its Writer cannot serve a half-closed connection.
//
// Instead the engine writes through a serial.OutQueue (core/engine/serial,
// embedded through serial.BaseConn) over the *net.TCPConn the socket came
// from until netpoll has the socket, then over netpoll's own descriptor
// (fdsocket.go; the TCPConn is closed: one descriptor per socket): a write with
// nothing queued ahead of it is tried at once on the caller's goroutine
// with one non-blocking write(2)/writev(2), which is what netpoll's Flush
// starts with too; what the kernel does not take is queued (bounded by
// OutQueueLimit), and a flusher goroutine writes the queue with writev,
// waiting for writability in the Go runtime's poller (on a dup of the
// socket, once it has to wait), and exits when the
// queue is empty. OnDrained is delivered by serial.BaseConn, unless it
// went stale (serial.DrainDue).
