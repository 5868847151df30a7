package proxyproto

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zero4 stands in for the CRC32C value while the checksum is computed. It
// is a package variable because a local array escapes through crc32.Update.
var zero4 [4]byte

// decodeV2 checks each part of the fixed 16 bytes as soon as it has
// arrived, then walks the TLV headers that have arrived, so that a bad
// header is refused without waiting for bytes it merely announces.
func (d Decoder) decodeV2(b []byte) (Header, int, error) {
	n := min(len(b), len(v2Signature))
	for i := 0; i < n; i++ {
		if b[i] != v2Signature[i] {
			return Header{}, 0, errorf(KindNotProxy, 0, i, "byte 0x%02x does not match the v2 signature (want 0x%02x)", b[i], v2Signature[i])
		}
	}
	if len(b) < 13 {
		return Header{}, 0, ErrNeedMore
	}
	if v := b[12] >> 4; v != 2 {
		return Header{}, 0, errorf(KindNotProxy, 2, 12, "version nibble %d, want 2", v)
	}
	cmd := Command(b[12] & 0x0F)
	if cmd != CmdLocal && cmd != CmdProxy {
		return Header{}, 0, errorf(KindInvalid, 2, 12, "command 0x%x, want LOCAL (0) or PROXY (1)", uint8(cmd))
	}
	if len(b) < 14 {
		return Header{}, 0, ErrNeedMore
	}
	tr := Transport(b[13])
	addrLen, ok := tr.addrLen()
	if !ok {
		return Header{}, 0, errorf(KindInvalid, 2, 13, "family/transport byte 0x%02x is not in the spec's table", b[13])
	}
	if d.Compat == CompatHAProxy26 && cmd == CmdProxy && tr == TransportUnspec {
		return Header{}, 0, errorf(KindInvalid, 2, 13, "PROXY command with the UNSPEC family (rejected by HAProxy 2.6)")
	}
	if len(b) < v2FixedLen {
		return Header{}, 0, ErrNeedMore
	}
	length := int(binary.BigEndian.Uint16(b[14:16]))
	limit := d.MaxV2Length
	if limit <= 0 || limit > MaxV2Length {
		limit = MaxV2Length
	}
	if length > limit {
		return Header{}, 0, errorf(KindInvalid, 2, 14, "length %d exceeds the limit %d", length, limit)
	}
	if length < addrLen {
		return Header{}, 0, errorf(KindInvalid, 2, 14, "length %d is shorter than the %d-byte %s address block", length, addrLen, tr)
	}
	total := v2FixedLen + length
	tlvStart := v2FixedLen + addrLen

	// Walk the TLV headers present so far; the walk over a complete header
	// also counts the TLVs and finds the CRC32C field.
	avail := min(len(b), total)
	count, crcOff := 0, -1
	p := tlvStart
	for p < avail {
		if total-p < 3 {
			return Header{}, 0, errorf(KindInvalid, 2, p, "%d trailing bytes after the last TLV, a TLV needs at least 3", total-p)
		}
		if avail-p < 3 {
			break // TLV header not complete yet
		}
		typ := b[p]
		vlen := int(binary.BigEndian.Uint16(b[p+1 : p+3]))
		if p+3+vlen > total {
			return Header{}, 0, errorf(KindInvalid, 2, p, "TLV 0x%02x length %d runs %d bytes past the header's end", typ, vlen, p+3+vlen-total)
		}
		switch typ {
		case TypeCRC32C:
			if vlen != 4 {
				return Header{}, 0, errorf(KindInvalid, 2, p, "CRC32C TLV length %d, want 4", vlen)
			}
			if crcOff >= 0 {
				return Header{}, 0, errorf(KindInvalid, 2, p, "second CRC32C TLV")
			}
			crcOff = p + 3
		case TypeUniqueID:
			if vlen > MaxUniqueIDLen {
				return Header{}, 0, errorf(KindInvalid, 2, p, "UNIQUE_ID length %d exceeds %d", vlen, MaxUniqueIDLen)
			}
		}
		count++
		p += 3 + vlen
	}
	if len(b) < total {
		return Header{}, 0, ErrNeedMore
	}
	hdr := b[:total]

	if crcOff >= 0 {
		want := binary.BigEndian.Uint32(hdr[crcOff : crcOff+4])
		if got := headerCRC(hdr, crcOff); got != want {
			return Header{}, 0, errorf(KindInvalid, 2, crcOff, "CRC32C mismatch: header says 0x%08x, computed 0x%08x", want, got)
		}
	}

	h := Header{Version: 2, Command: cmd}
	if cmd == CmdProxy {
		h.Transport = tr
		a := hdr[v2FixedLen:tlvStart]
		switch tr {
		case TCP4, UDP4:
			h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
		case TCP6, UDP6:
			h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
		case UnixStream, UnixDgram:
			h.SourcePath = cString(a[:unixPathLen])
			h.DestinationPath = cString(a[unixPathLen:])
		}
	}
	if count > 0 {
		// One copy of the TLV area (bytes that are really here, at most
		// 64 KiB) so the header owns its values.
		area := append([]byte(nil), hdr[tlvStart:]...)
		h.TLVs = make([]TLV, 0, count)
		for q := 0; q < len(area); {
			vlen := int(binary.BigEndian.Uint16(area[q+1 : q+3]))
			h.TLVs = append(h.TLVs, TLV{Type: area[q], Value: area[q+3 : q+3+vlen : q+3+vlen]})
			q += 3 + vlen
		}
	}
	return h, total, nil
}

// headerCRC is CRC32c over hdr with the 4 bytes at off taken as zero,
// computed in three pieces so hdr is not copied or modified.
func headerCRC(hdr []byte, off int) uint32 {
	c := crc32.Update(0, castagnoli, hdr[:off])
	c = crc32.Update(c, castagnoli, zero4[:])
	return crc32.Update(c, castagnoli, hdr[off+4:])
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
