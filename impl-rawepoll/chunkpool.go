package rawepoll

import "sync"

// Out-queue chunks. Write copies its bytes (the contract lets the caller
// reuse them at once), so a busy stream would otherwise allocate, and make
// the collector reclaim, as many bytes as it sends. Chunks of the two
// sizes below come from pools and go back once sent; consecutive small
// writes share one chunk (and one iovec). Larger writes get an exact copy.
const (
	smallChunk = 4 << 10
	largeChunk = 64 << 10
)

var (
	smallChunks = sync.Pool{New: func() any { return new([smallChunk]byte) }}
	largeChunks = sync.Pool{New: func() any { return new([largeChunk]byte) }}
)

// getChunk returns an empty chunk that can hold n bytes.
func getChunk(n int) []byte {
	switch {
	case n <= smallChunk:
		return smallChunks.Get().(*[smallChunk]byte)[:0]
	case n <= largeChunk:
		return largeChunks.Get().(*[largeChunk]byte)[:0]
	}
	return make([]byte, 0, n)
}

// putChunk recycles a chunk nobody references any more.
func putChunk(b []byte) {
	switch cap(b) {
	case smallChunk:
		smallChunks.Put((*[smallChunk]byte)(b[:smallChunk]))
	case largeChunk:
		largeChunks.Put((*[largeChunk]byte)(b[:largeChunk]))
	}
}
