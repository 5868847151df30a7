package wire2

import (
	"encoding/binary"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// The control frames' payloads (frames_v2.h ControlFrame subclasses), in
// field order. Each has an Append function that appends the payload (wrap
// it with AppendControl) and a Decode function over a payload with the
// package's (value, used, err) contract. Addresses are encoded in the
// msgr2-era form (wire.AppendAddrV2 / AppendAddrVec), as Ceph encodes
// frames with msgr2_frame_assumed features.

// Hello is the first frame both sides send: our entity type and the
// peer's address as we see it (the peer may learn its own IP from it).
type Hello struct {
	EntityType wire.EntityType
	PeerAddr   wire.EntityAddr
}

// AppendHello appends the Hello payload.
func AppendHello(b []byte, h Hello) []byte {
	b = append(b, byte(h.EntityType))
	return wire.AppendAddrV2(b, h.PeerAddr)
}

// DecodeHello decodes the Hello payload.
func DecodeHello(p []byte) (Hello, int, error) {
	d := decoder{b: p}
	h := Hello{EntityType: wire.EntityType(d.u8()), PeerAddr: d.addr()}
	n, err := d.done()
	return h, n, err
}

// AuthRequest opens authentication: the method (AuthNone, AuthCephx), the
// connection modes the client accepts in order of preference, and the
// method's payload (AppendMonAuthNone for auth none to a monitor).
type AuthRequest struct {
	Method         uint32
	PreferredModes []uint32
	Payload        []byte
}

// AppendAuthRequest appends the AuthRequest payload.
func AppendAuthRequest(b []byte, r AuthRequest) []byte {
	b = binary.LittleEndian.AppendUint32(b, r.Method)
	b = appendU32s(b, r.PreferredModes)
	return appendBlob(b, r.Payload)
}

// DecodeAuthRequest decodes the AuthRequest payload.
func DecodeAuthRequest(p []byte) (AuthRequest, int, error) {
	d := decoder{b: p}
	r := AuthRequest{Method: d.u32(), PreferredModes: d.u32s(), Payload: d.blob()}
	n, err := d.done()
	return r, n, err
}

// AuthBadMethod refuses an AUTH_REQUEST: the method tried, an errno
// (negative), and what the server allows.
type AuthBadMethod struct {
	Method         uint32
	Result         int32
	AllowedMethods []uint32
	AllowedModes   []uint32
}

// AppendAuthBadMethod appends the AuthBadMethod payload.
func AppendAuthBadMethod(b []byte, r AuthBadMethod) []byte {
	b = binary.LittleEndian.AppendUint32(b, r.Method)
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Result))
	b = appendU32s(b, r.AllowedMethods)
	return appendU32s(b, r.AllowedModes)
}

// DecodeAuthBadMethod decodes the AuthBadMethod payload.
func DecodeAuthBadMethod(p []byte) (AuthBadMethod, int, error) {
	d := decoder{b: p}
	r := AuthBadMethod{Method: d.u32(), Result: int32(d.u32()), AllowedMethods: d.u32s(), AllowedModes: d.u32s()}
	n, err := d.done()
	return r, n, err
}

// AuthMore is the payload of AUTH_REPLY_MORE (server → client) and
// AUTH_REQUEST_MORE (client → server): one method-specific blob.
type AuthMore struct {
	Payload []byte
}

// AppendAuthMore appends the AuthMore payload.
func AppendAuthMore(b []byte, m AuthMore) []byte { return appendBlob(b, m.Payload) }

// DecodeAuthMore decodes the AuthMore payload.
func DecodeAuthMore(p []byte) (AuthMore, int, error) {
	d := decoder{b: p}
	m := AuthMore{Payload: d.blob()}
	n, err := d.done()
	return m, n, err
}

// AuthDone ends authentication: the global_id the monitor assigned (or
// the client's, for other daemons), the connection mode chosen (ConModeCRC
// here) and the method's reply payload.
type AuthDone struct {
	GlobalID uint64
	ConMode  uint32
	Payload  []byte
}

// AppendAuthDone appends the AuthDone payload.
func AppendAuthDone(b []byte, a AuthDone) []byte {
	b = binary.LittleEndian.AppendUint64(b, a.GlobalID)
	b = binary.LittleEndian.AppendUint32(b, a.ConMode)
	return appendBlob(b, a.Payload)
}

// DecodeAuthDone decodes the AuthDone payload.
func DecodeAuthDone(p []byte) (AuthDone, int, error) {
	d := decoder{b: p}
	a := AuthDone{GlobalID: d.u64(), ConMode: d.u32(), Payload: d.blob()}
	n, err := d.done()
	return a, n, err
}

// AuthSignature carries the SHA-256 HMAC of what the sender received
// before authentication finished (see Signature); sha256_digest_t is
// encoded as its 32 raw bytes.
type AuthSignature struct {
	Sig [SignatureLen]byte
}

// AppendAuthSignature appends the AuthSignature payload.
func AppendAuthSignature(b []byte, s AuthSignature) []byte { return append(b, s.Sig[:]...) }

// DecodeAuthSignature decodes the AuthSignature payload.
func DecodeAuthSignature(p []byte) (AuthSignature, int, error) {
	if len(p) < SignatureLen {
		return AuthSignature{}, 0, ErrShort
	}
	return AuthSignature{Sig: [SignatureLen]byte(p)}, SignatureLen, nil
}

// ClientIdent opens a new session: the client's addresses, the address
// it dialled (Ceph faults unless it is one of the server's), the number
// of its entity name (a client's global_id), global_seq, Ceph feature
// bits (not the banner's; Ceph requires FeatureMsgAddr2), flags
// (FlagLossy) and a cookie (0 for a lossy client).
type ClientIdent struct {
	Addrs             []wire.EntityAddr
	TargetAddr        wire.EntityAddr
	GlobalID          int64
	GlobalSeq         uint64
	SupportedFeatures uint64
	RequiredFeatures  uint64
	Flags             uint64
	Cookie            uint64
}

// FlagLossy (CEPH_MSG_CONNECT_LOSSY) in CLIENT_IDENT/SERVER_IDENT flags:
// the session is lossy.
const FlagLossy uint64 = 1

// AppendClientIdent appends the ClientIdent payload.
func AppendClientIdent(b []byte, c ClientIdent) []byte {
	b = wire.AppendAddrVec(b, c.Addrs)
	b = wire.AppendAddrV2(b, c.TargetAddr)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.GlobalID))
	b = binary.LittleEndian.AppendUint64(b, c.GlobalSeq)
	b = binary.LittleEndian.AppendUint64(b, c.SupportedFeatures)
	b = binary.LittleEndian.AppendUint64(b, c.RequiredFeatures)
	b = binary.LittleEndian.AppendUint64(b, c.Flags)
	return binary.LittleEndian.AppendUint64(b, c.Cookie)
}

// DecodeClientIdent decodes the ClientIdent payload.
func DecodeClientIdent(p []byte) (ClientIdent, int, error) {
	d := decoder{b: p}
	c := ClientIdent{Addrs: d.addrs(), TargetAddr: d.addr(), GlobalID: int64(d.u64()), GlobalSeq: d.u64(),
		SupportedFeatures: d.u64(), RequiredFeatures: d.u64(), Flags: d.u64(), Cookie: d.u64()}
	n, err := d.done()
	return c, n, err
}

// ServerIdent accepts a new session: the server's addresses, the number
// of its entity name (0 for mon.0), global_seq, features, flags and
// cookie.
type ServerIdent struct {
	Addrs             []wire.EntityAddr
	GlobalID          int64
	GlobalSeq         uint64
	SupportedFeatures uint64
	RequiredFeatures  uint64
	Flags             uint64
	Cookie            uint64
}

// AppendServerIdent appends the ServerIdent payload.
func AppendServerIdent(b []byte, s ServerIdent) []byte {
	b = wire.AppendAddrVec(b, s.Addrs)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.GlobalID))
	b = binary.LittleEndian.AppendUint64(b, s.GlobalSeq)
	b = binary.LittleEndian.AppendUint64(b, s.SupportedFeatures)
	b = binary.LittleEndian.AppendUint64(b, s.RequiredFeatures)
	b = binary.LittleEndian.AppendUint64(b, s.Flags)
	return binary.LittleEndian.AppendUint64(b, s.Cookie)
}

// DecodeServerIdent decodes the ServerIdent payload.
func DecodeServerIdent(p []byte) (ServerIdent, int, error) {
	d := decoder{b: p}
	s := ServerIdent{Addrs: d.addrs(), GlobalID: int64(d.u64()), GlobalSeq: d.u64(),
		SupportedFeatures: d.u64(), RequiredFeatures: d.u64(), Flags: d.u64(), Cookie: d.u64()}
	n, err := d.done()
	return s, n, err
}

// Reconnect (SESSION_RECONNECT) resumes a lossless session: the client's
// addresses, both cookies, global_seq, connect_seq and the last message
// seq the client received (its in_seq).
type Reconnect struct {
	Addrs        []wire.EntityAddr
	ClientCookie uint64
	ServerCookie uint64
	GlobalSeq    uint64
	ConnectSeq   uint64
	MsgSeq       uint64
}

// AppendReconnect appends the Reconnect payload.
func AppendReconnect(b []byte, r Reconnect) []byte {
	b = wire.AppendAddrVec(b, r.Addrs)
	for _, v := range []uint64{r.ClientCookie, r.ServerCookie, r.GlobalSeq, r.ConnectSeq, r.MsgSeq} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// DecodeReconnect decodes the Reconnect payload.
func DecodeReconnect(p []byte) (Reconnect, int, error) {
	d := decoder{b: p}
	r := Reconnect{Addrs: d.addrs(), ClientCookie: d.u64(), ServerCookie: d.u64(),
		GlobalSeq: d.u64(), ConnectSeq: d.u64(), MsgSeq: d.u64()}
	n, err := d.done()
	return r, n, err
}

// SessionReset (SESSION_RESET) tells a reconnecting client its session is
// gone; Full also resets the client's side (seqs, queues).
type SessionReset struct {
	Full bool
}

// AppendSessionReset appends the SessionReset payload.
func AppendSessionReset(b []byte, r SessionReset) []byte {
	if r.Full {
		return append(b, 1)
	}
	return append(b, 0)
}

// DecodeSessionReset: any non-zero byte is true, as Ceph's decode(bool).
func DecodeSessionReset(p []byte) (SessionReset, int, error) {
	if len(p) < 1 {
		return SessionReset{}, 0, ErrShort
	}
	return SessionReset{Full: p[0] != 0}, 1, nil
}

// AppendU64 appends the single u64 payload of SESSION_RETRY (connect_seq),
// SESSION_RETRY_GLOBAL (global_seq), SESSION_RECONNECT_OK (msg_seq),
// IDENT_MISSING_FEATURES (the missing feature mask) and ACK (seq).
func AppendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// DecodeU64 decodes those payloads.
func DecodeU64(p []byte) (uint64, int, error) {
	if len(p) < 8 {
		return 0, 0, ErrShort
	}
	return binary.LittleEndian.Uint64(p), 8, nil
}

// AppendKeepalive appends the KEEPALIVE2 / KEEPALIVE2_ACK payload, a
// utime_t (u32 sec, u32 nsec): the sender's clock, echoed in the ack.
func AppendKeepalive(b []byte, ts wire.Timespec) []byte { return wire.AppendTimespec(b, ts) }

// DecodeKeepalive decodes it.
func DecodeKeepalive(p []byte) (wire.Timespec, int, error) { return wire.DecodeTimespec(p) }

// WAIT has an empty payload: AppendControl(b, TagWait, nil).

// FeatureMsgAddr2 (Ceph feature MSG_ADDR2, bit 59) is what Ceph requires
// of every msgr2 peer in CLIENT_IDENT (msgr2_required): it encodes
// entity_addrvec_t.
const FeatureMsgAddr2 uint64 = 1 << 59
