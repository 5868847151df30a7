// Package tlsconn is the TLS data layer of the engine contract: it wraps an
// engine connection so that the layer above (the proxy, any protocol on
// core/engine) sees plaintext through the same contract, as HAProxy's
// xprt_ssl sits beside xprt_raw. The TLS state machine is Go's crypto/tls;
// nothing here touches a cipher.
//
// # How crypto/tls is driven from an event loop
//
// crypto/tls wants a blocking net.Conn. The layer gives it an in-memory
// transport (transport.go) and drives it in two modes:
//
//   - Handshake: tls.Conn.Handshake is a blocking state machine, so it runs
//     on a short-lived goroutine per in-flight handshake. The loop copies
//     the bytes it receives (OnData) into the transport, whose Read blocks
//     the goroutine until they come; the goroutine writes its flights with
//     the raw Conn's Write (allowed from any goroutine by the contract) and
//     reports the end with Execute, so the result is seen on the loop. A
//     Limiter (a counting semaphore, default DefaultMaxHandshakes) bounds
//     the goroutines: a surplus connection waits paused, FIFO, until a slot
//     frees. A server connection takes a slot only once its first byte
//     arrives, so idle connections hold no goroutine.
//   - Records: after the handshake everything runs on the loop. OnData lends
//     the engine's buffer to the transport, and tls.Conn.Read decrypts from
//     it; when the transport is empty its Read returns a temporary
//     net.Error, which crypto/tls treats as "try again later" (see
//     transport.go for the lines of crypto/tls/conn.go this relies on).
//     Write encrypts with tls.Conn.Write into the raw Conn's out-queue.
//
// # What it costs
//
// Per handshake: one goroutine (created, parked per flight, ended) and one
// Execute; a goroutine wake per flight. Per record after the handshake: no
// goroutine, no lock contention; one copy from the engine's read buffer
// into crypto/tls's record buffer (crypto/tls's own), decryption into a
// pooled plaintext buffer, and on the write side one copy of the
// ciphertext into the engine's out-queue. No Splicer: TLS has no pipe
// variant (HAProxy's neither).
//
// # Limits (every buffer bounded)
//
//   - Ciphertext in: during the handshake at most HandshakeBufferSize bytes
//     wait for the goroutine; more pauses the raw connection until it has
//     read them. Afterwards crypto/tls holds at most one record plus one
//     transport read (maxTransportRead); what it has not taken when a
//     delivery ends (the handler paused, or an engine called back inline)
//     is kept in the transport, at most HandshakeBufferSize, so an
//     engine's read buffer is never left full with nothing consumed. A record longer than crypto/tls's limit (16 KiB + 256
//     bytes in TLS 1.3, + 2048 in 1.2) ends the connection with a
//     record_overflow alert: only that connection.
//   - Plaintext in: at most Options.ReadBufferSize bytes decrypted and not
//     yet consumed; while the upper handler is paused, nothing more is
//     decrypted and the raw connection is paused too, so the peer sees TCP
//     backpressure. The plaintext buffer is returned to a pool whenever it
//     empties, so an idle session holds none.
//   - Ciphertext out: Write encrypts all of its bytes; the part the raw
//     out-queue refuses (engine.ErrOutQueueFull) waits in the Conn (at
//     most one Write's worth plus record overhead), further Writes fail
//     with engine.ErrOutQueueFull, and OnDrained follows once it is sent.
//
// Errors (a bad record, a failed handshake, a handshake timeout) close only
// that connection; the upper handler's OnClose gets the reason. The alert
// crypto/tls writes for a failed handshake or a bad record is sent before
// the close: if it is still in the raw out-queue, the raw side is shut
// with CloseWrite (queue, then FIN) and closed at the peer's EOF or after
// AlertLinger, since a raw Close would discard it.
package tlsconn
