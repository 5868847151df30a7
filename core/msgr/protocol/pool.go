package protocol

import "sync"

// Buffer reuse on the message path (spec/messenger.md, "Allocations").
//
// Two free lists per Endpoint, each under its own leaf lock:
//
//   - msgPool holds received Messages with their buffers, when
//     Config.RecycleMessages is on. A pooled message carries a reference
//     count: one for the delivery (dropped by Message.Recycle after
//     FastDispatch) and one per SendMessage of the message itself (dropped
//     when the session forgets it: acknowledged, or written on a lossy
//     session). At zero it goes back to the list. A message dropped by
//     other means (a session reset or close, a slow Dispatch) is left to
//     the garbage collector: it is never reused while anyone may hold it.
//   - bufPool holds the writers' batch buffers: a socket takes one for a
//     fill and gives it back once the engine has copied it (Write), so an
//     idle socket holds none.
//
// At a limit the object is dropped to the garbage collector; nothing waits.
const (
	// maxPooledBody is the largest receive buffer (payload and footer)
	// taken from or kept in msgPool; larger messages get their own.
	maxPooledBody = 64 << 10
	// maxPooledMsgs and maxPooledBytes bound msgPool per endpoint.
	maxPooledMsgs  = 1024
	maxPooledBytes = 8 << 20
	// maxPooledBatch is the largest batch buffer kept; maxPooledBatches
	// bounds their number per endpoint.
	maxPooledBatch   = DefaultWriteBatchBytes + 2*maxPooledBody
	maxPooledBatches = 64
)

// msgPool is the free list of received messages.
type msgPool struct {
	mu    sync.Mutex // a leaf lock
	free  []*Message
	bytes int // sum of cap(buf) in free
}

// get returns a message whose buf holds n bytes (n <= maxPooledBody), with
// one reference (the delivery's).
func (p *msgPool) get(n int) *Message {
	var m *Message
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		m = p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
		p.bytes -= cap(m.buf)
	}
	p.mu.Unlock()
	if m == nil {
		m = &Message{pool: p}
	}
	if cap(m.buf) < n {
		m.buf = make([]byte, n)
	}
	m.buf = m.buf[:n]
	m.refs.Store(1)
	return m
}

// put takes back a message nobody holds any more.
func (p *msgPool) put(m *Message) {
	buf := m.buf
	*m = Message{pool: p} // drop every reference the message held
	if cap(buf) > maxPooledBody {
		return
	}
	m.buf = buf[:0]
	p.mu.Lock()
	if len(p.free) < maxPooledMsgs && p.bytes+cap(buf) <= maxPooledBytes {
		p.free = append(p.free, m)
		p.bytes += cap(buf)
	}
	p.mu.Unlock()
}

// bufPool is the free list of batch buffers.
type bufPool struct {
	mu   sync.Mutex // a leaf lock
	free [][]byte
}

func (p *bufPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
		return b
	}
	return make([]byte, 0, 4<<10)
}

func (p *bufPool) put(b []byte) {
	if cap(b) > maxPooledBatch {
		return
	}
	p.mu.Lock()
	if len(p.free) < maxPooledBatches {
		p.free = append(p.free, b[:0])
	}
	p.mu.Unlock()
}
