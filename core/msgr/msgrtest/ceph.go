package msgrtest

import (
	"encoding/binary"
	"fmt"
)

// Ceph message types used against a real ceph-mon (spec §15.1).
const (
	MsgPing                      = 2
	MsgMonMap                    = 4
	MsgAuth                      = 17
	MsgAuthReply                 = 18
	MsgMonGetVersion             = 19
	MsgMonGetVersionReply        = 20
	MsgMonProbe                  = 67
	AuthNone              uint32 = 1
)

// MAuthFront encodes the first MAuth of a session (spec §15.2, §9.3):
// PaxosServiceMessage prefix, protocol 0, auth_payload (struct_v 1, method
// list, EntityName, global_id), monmap_epoch. For client "admin" with
// [AUTH_NONE] it is byte-identical to the 60-byte vector of §9.3.
func MAuthFront(entityType uint32, id string, methods []uint32, globalID uint64, monmapEpoch uint32) []byte {
	le := binary.LittleEndian
	var p []byte
	p = append(p, 1)
	p = le.AppendUint32(p, uint32(len(methods)))
	for _, m := range methods {
		p = le.AppendUint32(p, m)
	}
	p = le.AppendUint32(p, entityType)
	p = le.AppendUint32(p, uint32(len(id)))
	p = append(p, id...)
	p = le.AppendUint64(p, globalID)

	var b []byte
	b = le.AppendUint64(b, 0)      // version
	b = le.AppendUint16(b, 0xffff) // deprecated_session_mon = -1
	b = le.AppendUint64(b, 0)      // deprecated_session_mon_tid
	b = le.AppendUint32(b, 0)      // protocol 0: "here are my methods"
	b = le.AppendUint32(b, uint32(len(p)))
	b = append(b, p...)
	return le.AppendUint32(b, monmapEpoch)
}

// AuthReply is a decoded MAuthReply front.
type AuthReply struct {
	Protocol uint32
	Result   int32
	GlobalID uint64
	ResultBL []byte
	Msg      string
}

// DecodeAuthReply decodes an MAuthReply front (spec §15.2).
func DecodeAuthReply(b []byte) (AuthReply, error) {
	le := binary.LittleEndian
	if len(b) < 20 {
		return AuthReply{}, fmt.Errorf("MAuthReply front of %d bytes", len(b))
	}
	r := AuthReply{Protocol: le.Uint32(b), Result: int32(le.Uint32(b[4:])), GlobalID: le.Uint64(b[8:])}
	n := int(le.Uint32(b[16:]))
	if n > len(b)-20 {
		return AuthReply{}, fmt.Errorf("MAuthReply result_bl of %d bytes", n)
	}
	r.ResultBL = b[20 : 20+n]
	rest := b[20+n:]
	if len(rest) >= 4 {
		m := int(le.Uint32(rest))
		if m <= len(rest)-4 {
			r.Msg = string(rest[4 : 4+m])
		}
	}
	return r, nil
}

// MonGetVersionFront encodes MMonGetVersion: u64 handle, string what.
func MonGetVersionFront(handle uint64, what string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, handle)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(what)))
	return append(b, what...)
}

// MonGetVersionReply is a decoded MMonGetVersionReply front.
type MonGetVersionReply struct{ Handle, Version, Oldest uint64 }

// DecodeMonGetVersionReply decodes the 16- or 24-byte front.
func DecodeMonGetVersionReply(b []byte) (MonGetVersionReply, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return MonGetVersionReply{}, fmt.Errorf("MMonGetVersionReply front of %d bytes", len(b))
	}
	r := MonGetVersionReply{Handle: le.Uint64(b), Version: le.Uint64(b[8:])}
	if len(b) >= 24 {
		r.Oldest = le.Uint64(b[16:])
	}
	return r, nil
}
