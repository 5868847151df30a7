package wire

import "hash/crc32"

// castagnoli is the table hash/crc32 recognises for its SSE4.2/ARMv8
// hardware path.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is Ceph's ceph_crc32c(seed, p): the raw CRC-32C register update
// with no initial and no final inversion (§9.1). The messenger always uses
// seed 0; the CRC of an empty or all-zero buffer with seed 0 is 0.
//
// Go's crc32.Update inverts on entry and exit, so inverting around it gives
// the raw update.
func CRC32C(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}
