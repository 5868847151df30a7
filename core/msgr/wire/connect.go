package wire

import (
	"encoding/binary"
	"fmt"
)

// Sizes of the fixed parts of the handshake messages (§6).
const (
	ConnectLen      = 33
	ConnectReplyLen = 26
)

// ConnectFlagLossy is bit 0 of connect.flags and connect_reply.flags.
const ConnectFlagLossy uint8 = 1

// Authorizer protocols (connect.authorizer_protocol).
const (
	AuthUnknown uint32 = 0
	AuthNone    uint32 = 1
	AuthCephx   uint32 = 2
)

// MaxAuthorizerLen bounds authorizer and authorizer-reply blobs we accept.
// Ceph's client asserts on a reply authorizer ≥ 4096 (§16 #9); we apply the
// same bound to both directions and fault instead.
const MaxAuthorizerLen = 4096

// Connect is ceph_msg_connect (§6.1).
type Connect struct {
	Features        uint64
	HostType        uint32
	GlobalSeq       uint32
	ConnectSeq      uint32
	ProtocolVersion uint32
	AuthProtocol    uint32
	AuthLen         uint32
	Flags           uint8
}

// AppendConnect appends the 33 fixed bytes; the authorizer (AuthLen bytes)
// follows and is appended by the caller.
func AppendConnect(b []byte, c Connect) []byte {
	b = binary.LittleEndian.AppendUint64(b, c.Features)
	b = binary.LittleEndian.AppendUint32(b, c.HostType)
	b = binary.LittleEndian.AppendUint32(b, c.GlobalSeq)
	b = binary.LittleEndian.AppendUint32(b, c.ConnectSeq)
	b = binary.LittleEndian.AppendUint32(b, c.ProtocolVersion)
	b = binary.LittleEndian.AppendUint32(b, c.AuthProtocol)
	b = binary.LittleEndian.AppendUint32(b, c.AuthLen)
	return append(b, c.Flags)
}

// DecodeConnect decodes the 33 fixed bytes (not the authorizer).
func DecodeConnect(b []byte) (Connect, int, error) {
	if len(b) < ConnectLen {
		return Connect{}, 0, ErrShort
	}
	le := binary.LittleEndian
	return Connect{
		Features:        le.Uint64(b[0:]),
		HostType:        le.Uint32(b[8:]),
		GlobalSeq:       le.Uint32(b[12:]),
		ConnectSeq:      le.Uint32(b[16:]),
		ProtocolVersion: le.Uint32(b[20:]),
		AuthProtocol:    le.Uint32(b[24:]),
		AuthLen:         le.Uint32(b[28:]),
		Flags:           b[32],
	}, ConnectLen, nil
}

// ConnectReply is ceph_msg_connect_reply (§6.2).
type ConnectReply struct {
	Tag             Tag
	Features        uint64
	GlobalSeq       uint32
	ConnectSeq      uint32
	ProtocolVersion uint32
	AuthLen         uint32
	Flags           uint8
}

// AppendConnectReply appends the 26 fixed bytes; an authorizer reply and,
// for SEQ, the u64 in_seq follow.
func AppendConnectReply(b []byte, r ConnectReply) []byte {
	b = append(b, byte(r.Tag))
	b = binary.LittleEndian.AppendUint64(b, r.Features)
	b = binary.LittleEndian.AppendUint32(b, r.GlobalSeq)
	b = binary.LittleEndian.AppendUint32(b, r.ConnectSeq)
	b = binary.LittleEndian.AppendUint32(b, r.ProtocolVersion)
	b = binary.LittleEndian.AppendUint32(b, r.AuthLen)
	return append(b, r.Flags)
}

// DecodeConnectReply decodes the 26 fixed bytes.
func DecodeConnectReply(b []byte) (ConnectReply, int, error) {
	if len(b) < ConnectReplyLen {
		return ConnectReply{}, 0, ErrShort
	}
	le := binary.LittleEndian
	return ConnectReply{
		Tag:             Tag(b[0]),
		Features:        le.Uint64(b[1:]),
		GlobalSeq:       le.Uint32(b[9:]),
		ConnectSeq:      le.Uint32(b[13:]),
		ProtocolVersion: le.Uint32(b[17:]),
		AuthLen:         le.Uint32(b[21:]),
		Flags:           b[25],
	}, ConnectReplyLen, nil
}

// AuthNoneAuthorizer is the CEPH_AUTH_NONE authorizer blob (§12): u8
// struct_v 1, EntityName (u32 type + string id), u64 global_id. A mon named
// "a" sends 18 bytes: 01 01000000 01000000 61 0000000000000000.
type AuthNoneAuthorizer struct {
	EntityType uint32
	ID         string
	GlobalID   uint64
}

// maxAuthNoneID bounds the id string we accept.
const maxAuthNoneID = 256

// AppendAuthNone appends the blob.
func AppendAuthNone(b []byte, a AuthNoneAuthorizer) []byte {
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, a.EntityType)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.ID)))
	b = append(b, a.ID...)
	return binary.LittleEndian.AppendUint64(b, a.GlobalID)
}

// AuthNoneLen is the encoded size of a.
func (a AuthNoneAuthorizer) Len() int { return 1 + 4 + 4 + len(a.ID) + 8 }

// DecodeAuthNone decodes the blob. The struct_v byte must be in 1..9 (it
// doubles as Ceph's "authorizer mode").
func DecodeAuthNone(b []byte) (AuthNoneAuthorizer, int, error) {
	if len(b) < 9 {
		return AuthNoneAuthorizer{}, 0, ErrShort
	}
	if b[0] < 1 || b[0] > 9 {
		return AuthNoneAuthorizer{}, 0, fmt.Errorf("msgr wire: auth none struct_v %d", b[0])
	}
	le := binary.LittleEndian
	var a AuthNoneAuthorizer
	a.EntityType = le.Uint32(b[1:])
	n := le.Uint32(b[5:])
	if n > maxAuthNoneID {
		return AuthNoneAuthorizer{}, 0, fmt.Errorf("msgr wire: auth none id length %d", n)
	}
	end := 9 + int(n) + 8
	if len(b) < end {
		return AuthNoneAuthorizer{}, 0, ErrShort
	}
	a.ID = string(b[9 : 9+n])
	a.GlobalID = le.Uint64(b[9+n:])
	return a, end, nil
}
