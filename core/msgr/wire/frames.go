package wire

import (
	"encoding/binary"
	"time"
)

// TimespecLen is the size of ceph_timespec (u32 sec, u32 nsec).
const TimespecLen = 8

// Timespec is ceph_timespec, the KEEPALIVE2(_ACK) payload.
type Timespec struct {
	Sec  uint32
	Nsec uint32
}

// TimespecOf converts a time as Ceph does (seconds truncated to 32 bits).
func TimespecOf(t time.Time) Timespec {
	return Timespec{Sec: uint32(t.Unix()), Nsec: uint32(t.Nanosecond())}
}

// AppendTimespec appends sec and nsec.
func AppendTimespec(b []byte, ts Timespec) []byte {
	b = binary.LittleEndian.AppendUint32(b, ts.Sec)
	return binary.LittleEndian.AppendUint32(b, ts.Nsec)
}

// DecodeTimespec decodes 8 bytes.
func DecodeTimespec(b []byte) (Timespec, int, error) {
	if len(b) < TimespecLen {
		return Timespec{}, 0, ErrShort
	}
	return Timespec{Sec: binary.LittleEndian.Uint32(b), Nsec: binary.LittleEndian.Uint32(b[4:])}, TimespecLen, nil
}

// AppendSeq appends a u64 (the ACK payload and the SEQ exchange value, §7.3).
func AppendSeq(b []byte, seq uint64) []byte { return binary.LittleEndian.AppendUint64(b, seq) }

// DecodeSeq decodes a u64.
func DecodeSeq(b []byte) (uint64, int, error) {
	if len(b) < 8 {
		return 0, 0, ErrShort
	}
	return binary.LittleEndian.Uint64(b), 8, nil
}

// AppendAck appends a whole ACK frame: tag 8 + u64 seq.
func AppendAck(b []byte, seq uint64) []byte { return AppendSeq(append(b, byte(TagAck)), seq) }

// AppendKeepalive2 appends a KEEPALIVE2 frame.
func AppendKeepalive2(b []byte, ts Timespec) []byte {
	return AppendTimespec(append(b, byte(TagKeepalive2)), ts)
}

// AppendKeepalive2Ack appends a KEEPALIVE2_ACK frame echoing ts.
func AppendKeepalive2Ack(b []byte, ts Timespec) []byte {
	return AppendTimespec(append(b, byte(TagKeepalive2Ack)), ts)
}
