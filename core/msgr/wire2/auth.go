package wire2

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Auth methods (CEPH_AUTH_*) in AUTH_REQUEST and AUTH_BAD_METHOD.
const (
	AuthUnknown uint32 = 0
	AuthNone    uint32 = 1
	AuthCephx   uint32 = 2
)

// Connection modes (CEPH_CON_MODE_*): what AUTH_DONE settles. Only crc
// mode is implemented; secure mode encrypts frames with AES-GCM under
// cephx session keys.
const (
	ConModeUnknown uint32 = 0
	ConModeCRC     uint32 = 1
	ConModeSecure  uint32 = 2
)

// AuthModeMon (AUTH_MODE_MON) opens the payload of an AUTH_REQUEST to a
// monitor: the client is asking the monitor for a global_id and tickets,
// not presenting an authorizer for a service (AUTH_MODE_AUTHORIZER, 1).
const AuthModeMon uint8 = 10

// MonAuthRequest is the AUTH_REQUEST payload a client sends a monitor
// (MonConnection::get_auth_request): the mode, the client's entity name
// (EntityName: u32 type, string id) and the global_id it had (0 for a new
// client). The auth none method adds nothing after it
// (AuthNoneClientHandler has no initial request).
type MonAuthRequest struct {
	EntityType wire.EntityType
	ID         string // "admin" for client.admin
	GlobalID   uint64
}

// AppendMonAuthRequest appends the payload.
func AppendMonAuthRequest(b []byte, r MonAuthRequest) []byte {
	b = append(b, AuthModeMon)
	b = binary.LittleEndian.AppendUint32(b, uint32(r.EntityType))
	b = appendBlob(b, []byte(r.ID))
	return binary.LittleEndian.AppendUint64(b, r.GlobalID)
}

// DecodeMonAuthRequest decodes it; a payload for another mode is refused.
func DecodeMonAuthRequest(p []byte) (MonAuthRequest, int, error) {
	d := decoder{b: p}
	mode := d.u8()
	if d.err == nil && mode != AuthModeMon {
		return MonAuthRequest{}, 0, frameErr(TagAuthRequest, 0, "auth mode %d, want AUTH_MODE_MON (%d)", mode, AuthModeMon)
	}
	typ := d.u32()
	id := d.blob()
	r := MonAuthRequest{EntityType: wire.EntityType(typ), ID: string(id), GlobalID: d.u64()}
	n, err := d.done()
	if err == nil && typ > 0xff {
		return MonAuthRequest{}, 0, frameErr(TagAuthRequest, 1, "entity type %#x", typ)
	}
	return r, n, err
}

// SignatureLen is the size of sha256_digest_t.
const SignatureLen = sha256.Size

// Signature is what AUTH_SIGNATURE carries (ProtocolV2::handle_auth_done
// and handle_auth_signature): HMAC-SHA256 under the session key of every
// byte the sender received on this connection from its peer's banner up to
// the end of authentication (the client: through AUTH_DONE; the server:
// through the client's last auth frame). Each side checks the peer's
// signature against what it sent. With no session key, as with auth none,
// Ceph sends 32 zero bytes instead of an HMAC (not an HMAC under an empty
// key), and expects them.
func Signature(sessionKey, received []byte) [SignatureLen]byte {
	var sig [SignatureLen]byte
	if len(sessionKey) == 0 {
		return sig
	}
	m := hmac.New(sha256.New, sessionKey)
	m.Write(received)
	copy(sig[:], m.Sum(nil))
	return sig
}
