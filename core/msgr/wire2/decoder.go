package wire2

import (
	"encoding/binary"

	"github.com/netmodels/netmodels/core/msgr/wire"
)

// decoder reads Ceph's little-endian encodings from a payload. The first
// shortfall or fault sticks in err and later reads return zero values, so
// a payload decoder is a straight list of reads and one check at the end.
// Counted fields (vectors, bufferlists) are believed only once the bytes
// they claim are present: nothing is allocated for a claim alone.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b)-d.off < n {
		d.err = ErrShort
		return false
	}
	return true
}

func (d *decoder) u8() uint8 {
	if !d.need(1) {
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	d.off += 2
	return binary.LittleEndian.Uint16(d.b[d.off-2:])
}

func (d *decoder) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	d.off += 4
	return binary.LittleEndian.Uint32(d.b[d.off-4:])
}

func (d *decoder) u64() uint64 {
	if !d.need(8) {
		return 0
	}
	d.off += 8
	return binary.LittleEndian.Uint64(d.b[d.off-8:])
}

// blob is a bufferlist or string: u32 length then the bytes, aliased.
func (d *decoder) blob() []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		d.err = ErrShort
		return nil
	}
	d.off += int(n)
	return d.b[d.off-int(n) : d.off : d.off]
}

// u32s is a vector<uint32_t>: u32 count then the elements.
func (d *decoder) u32s() []uint32 {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n)*4 > uint64(len(d.b)-d.off) {
		d.err = ErrShort
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = d.u32()
	}
	return v
}

func (d *decoder) addr() wire.EntityAddr {
	if d.err != nil {
		return wire.EntityAddr{}
	}
	a, n, err := wire.DecodeAddrAny(d.b[d.off:])
	if err != nil {
		d.err = err
		return wire.EntityAddr{}
	}
	d.off += n
	return a
}

func (d *decoder) addrs() []wire.EntityAddr {
	if d.err != nil {
		return nil
	}
	v, n, err := wire.DecodeAddrVec(d.b[d.off:])
	if err != nil {
		d.err = err
		return nil
	}
	d.off += n
	return v
}

func (d *decoder) timespec() wire.Timespec {
	return wire.Timespec{Sec: d.u32(), Nsec: d.u32()}
}

// done returns the bytes used, or the error.
func (d *decoder) done() (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	return d.off, nil
}

func appendBlob(b, p []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

func appendU32s(b []byte, v []uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}
