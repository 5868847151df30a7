package goroutine

// The write path is a serial.OutQueue (core/engine/serial) over the
// connection's *net.TCPConn, embedded through serial.BaseConn. A write
// with nothing queued ahead of it is tried at once on the caller's
// goroutine with one non-blocking write(2)/writev(2) (the common case for
// request/response traffic: no goroutine hand-off, no copy). What the
// kernel does not take is queued, and a flusher goroutine is started that
// writes the queue with writev, waiting for writability in the runtime's
// netpoller, and exits when the queue is empty. A splice into the
// connection claims the write side (splice.go) and waits on c.Cond for the
// flusher to stop. OnDrained is delivered by serial.BaseConn, unless it
// went stale (serial.DrainDue).
