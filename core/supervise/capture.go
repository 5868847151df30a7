package supervise

import (
	"fmt"
	"sync"
)

// HeadBytes is how much of the start of a stream a capture keeps: a Go
// crash prints its signal and faulting goroutine first, then every
// goroutine and the registers, so the head says where a crash began.
const HeadBytes = 2 << 10

// DefaultCapture is Spec.Capture's default: the last 64 KiB of a stream.
const DefaultCapture = 64 << 10

// capture keeps the first HeadBytes written to it and the last limit bytes
// in a ring, whatever the child writes: memory is bounded by
// HeadBytes+limit. Bytes between the two are dropped and counted; String
// marks the cut. The ring grows as it fills, so a quiet child costs little.
type capture struct {
	mu      sync.Mutex
	head    []byte
	ring    []byte // len grows to limit; once full, start is the oldest byte
	start   int
	limit   int
	dropped int64
}

func newCapture(limit int) *capture {
	if limit <= 0 {
		limit = DefaultCapture
	}
	return &capture{limit: limit}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if room := HeadBytes - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head, p = append(c.head, p[:k]...), p[k:]
	}
	if len(p) >= c.limit { // only p's own last limit bytes can survive
		c.dropped += int64(len(c.ring) + len(p) - c.limit)
		c.ring, c.start = append(c.ring[:0], p[len(p)-c.limit:]...), 0
		return n, nil
	}
	if k := min(c.limit-len(c.ring), len(p)); k > 0 { // still filling
		c.ring, p = append(c.ring, p[:k]...), p[k:]
	}
	c.dropped += int64(len(p))
	for len(p) > 0 { // full: overwrite the oldest bytes
		k := copy(c.ring[c.start:], p)
		p, c.start = p[k:], (c.start+k)%c.limit
	}
	return n, nil
}

// String is the head, a marker saying how much was dropped (if anything
// was), and the tail, oldest first.
func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]byte, 0, len(c.head)+len(c.ring)+48)
	out = append(out, c.head...)
	if c.dropped > 0 {
		out = fmt.Appendf(out, "\n[... %d bytes dropped ...]\n", c.dropped)
	}
	out = append(out, c.ring[c.start:]...)
	return string(append(out, c.ring[:c.start]...))
}
