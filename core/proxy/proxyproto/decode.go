package proxyproto

// Compat selects whose verdicts the decoder reproduces.
type Compat uint8

const (
	// CompatSpec follows doc/proxy-protocol.txt exactly.
	CompatSpec Compat = iota
	// CompatHAProxy26 reproduces HAProxy 2.6.12's accept-proxy verdicts as
	// observed in shared/vectors/proxy/accept-proxy-results.txt:
	//   - v1 IPv4 octets take 1-3 digits with leading zeros allowed and
	//     wrap modulo 256 ("256.0.2.10" is 0.0.2.10, "010" is 10);
	//   - v1 ports take 1-5 digits, leading zeros allowed, and wrap modulo
	//     65536 (65536 is 0);
	//   - v1 UNKNOWN must be exactly "PROXY UNKNOWN\r\n"; anything after
	//     the token is an unhandled protocol;
	//   - v2 PROXY with the UNSPEC family is invalid.
	// Everything else is judged as in CompatSpec. (HAProxy 2.6 also rejects
	// a header split across reads; that is the caller's policy, not the
	// decoder's: this decoder always accepts partial input.)
	CompatHAProxy26
)

// MaxV1Len is the longest v1 line, CRLF included (spec §2.1).
const MaxV1Len = 107

// v2 fixed part and limits.
const (
	v2FixedLen  = 16
	MaxV2Length = 0xFFFF // the largest length field; a header is 16 bytes more
	unixPathLen = 108
)

var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// Decoder holds decoding options. The zero value follows the spec and
// accepts any v2 length up to the protocol's 65535.
type Decoder struct {
	Compat Compat
	// MaxV2Length caps the v2 length field (bytes after the 16-byte fixed
	// part). A header announcing more is rejected as soon as its length
	// field arrives, before any of the announced bytes are awaited. 0 means
	// MaxV2Length (65535). A proxy that never expects large TLVs can set a
	// few KiB here to bound what one connection may make it buffer. An
	// engine handler must also keep 16+MaxV2Length within its read buffer
	// (engine.Config.ReadBufferSize), since it consumes nothing until the
	// header is complete.
	MaxV2Length int
}

// Decode parses one header at the start of b with the spec's rules. See
// Decoder.Decode.
func Decode(b []byte) (Header, int, error) { return Decoder{}.Decode(b) }

// Decode parses one header at the start of b. It returns the header and the
// number of bytes it used; or ErrNeedMore when b is a valid prefix of a
// header (nothing is consumed: call again with the same bytes and more); or
// an *Error as soon as b cannot start a valid header. Bytes after the
// header are not looked at. The Header does not alias b.
func (d Decoder) Decode(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, ErrNeedMore
	}
	switch b[0] {
	case 'P':
		return d.decodeV1(b)
	case v2Signature[0]:
		return d.decodeV2(b)
	}
	return Header{}, 0, errorf(KindNotProxy, 0, 0, "first byte 0x%02x is neither 'P' (v1) nor CR (v2)", b[0])
}
