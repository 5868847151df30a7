// Package wire2 holds the msgr2.1 codecs (Ceph messenger protocol v2,
// revision 1, crc mode, as Ceph Pacific 16.2 speaks it): the banner and
// its feature check, the 32-byte frame preamble, frames with their inline
// and epilogue crcs, the control frames' payloads, the MESSAGE frame's
// ceph_msg_header2, the auth none request a client sends to a monitor and
// the AUTH_SIGNATURE digest.
//
// Like package wire (msgr1), every decoder is a pure function over a byte
// slice returning the value, the bytes used and an error, with ErrShort
// (the same sentinel as wire.ErrShort) for every strict prefix of a valid
// encoding; encoders append to a caller's slice. Decoders never allocate
// from a length the peer claims: lengths only delimit bytes already in the
// input, and DecodePreamble checks a frame's claimed segment lengths
// against Limits before a reader buffers the frame.
//
// A control payload is whole once DecodeFrame returns its frame, so a
// payload decoder's ErrShort there means a truncated payload: a protocol
// error, not a reason to wait. Bytes after the fields a payload decoder
// knows are left unused (the n it returns says where it stopped), as Ceph
// ignores them, so a later revision's extra fields do not break us.
//
// Facts: Ceph's doc/dev/msgr2.rst, src/msg/async/frames_v2.{h,cc},
// ProtocolV2.cc and src/include/msgr.h; the kernel's net/ceph/messenger_v2.c
// (an independent implementation); bytes captured from a real ceph-mon
// 16.2.15 in testdata/cephmon-16.2. Not here: the session state machine,
// secure mode (AES-GCM; it needs cephx session keys) and compression.
package wire2
