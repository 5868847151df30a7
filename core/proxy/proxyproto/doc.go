// Package proxyproto encodes and decodes PROXY protocol headers, versions 1
// (text) and 2 (binary), as HAProxy defines them in doc/proxy-protocol.txt.
//
// The codec is I/O-free and incremental. Decode takes whatever bytes have
// arrived so far and returns either a complete header and the number of
// bytes it used, ErrNeedMore when the bytes are a valid prefix of a header,
// or an *Error as soon as the bytes seen cannot start a valid header. An
// engine's OnData callback can therefore call Decode on its read buffer
// every time bytes arrive, consume nothing until a header is complete, and
// close the connection the moment an *Error comes back, as the spec asks.
// The caller owns the policies around it: how long to wait for a header and
// what to do at EOF (see EOFError).
//
// Limits: Decode never looks past byte 107 of a v1 line, never waits for
// more of a v2 header than its length field says, rejects a v2 length above
// Decoder.MaxV2Length before waiting for the bytes it announces, and only
// allocates for bytes that are actually present (TLV values are copied once,
// in one block, so a Header never aliases the caller's buffer).
//
// Strictness: Decode follows the spec. Decoder{Compat: CompatHAProxy26}
// reproduces what HAProxy 2.6.12's "bind ... accept-proxy" was observed to
// do with the crafted inputs in shared/vectors/proxy (see Compat). The
// differences are small and listed there.
//
// Why not github.com/pires/go-proxyproto: its receiving side is Read(*bufio.Reader)
// and a net.Listener/net.Conn wrapper. It pulls bytes from a reader and
// blocks until a header is complete, so a partial header either blocks the
// caller or surfaces as an I/O error; it cannot answer "valid prefix, feed
// me more" over a []byte that an event loop owns, and it cannot reject a bad
// first byte before the rest of the line arrives. Our engines (epoll, gnet,
// netpoll, DPDK) hand protocol code a buffer in a callback and must never
// block there, so the decoder has to be a pure function over []byte. The
// encoder side would have fitted, but one codec with one Header type and one
// set of tests is simpler than two. The module also adds a dependency to
// core that nothing else needs.
package proxyproto
