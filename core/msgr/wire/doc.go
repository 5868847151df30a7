// Package wire holds the msgr1 (Ceph messenger protocol v1, Pacific) codecs:
// banner, legacy entity addresses, connect and connect_reply, tags, the
// OPENED-state frame payloads, the 53-byte message header, the 21/13-byte
// footers and Ceph's crc32c.
//
// Every decoder is a pure function over a byte slice: it returns the value,
// the number of bytes it used and an error. ErrShort means "not enough bytes
// yet" and is returned for every strict prefix of a valid encoding; it is a
// sentinel compared with ==, so the hot read path pays nothing for it.
// Encoders append to a caller's slice (AppendXxx) so a writer can build a
// whole batch in one buffer. Facts: shared/spec/msgr-v1-wire.md (§ numbers in
// comments refer to it).
package wire
