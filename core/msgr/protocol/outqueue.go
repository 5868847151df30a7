package protocol

// outQueue holds messages not yet written, by priority: strictly highest
// priority first, FIFO within a priority (so per-connection order holds
// among messages of equal priority, as in Ceph's out_q map).
type outQueue struct {
	buckets []bucket // sorted by prio, highest first; few distinct priorities in practice
	n       int
}

type bucket struct {
	prio uint16
	q    []*Message
	head int
}

func (q *outQueue) push(m *Message) {
	p := m.prio()
	i := 0
	for ; i < len(q.buckets); i++ {
		if q.buckets[i].prio == p {
			break
		}
		if q.buckets[i].prio < p {
			q.buckets = append(q.buckets, bucket{})
			copy(q.buckets[i+1:], q.buckets[i:])
			q.buckets[i] = bucket{prio: p}
			break
		}
	}
	if i == len(q.buckets) {
		q.buckets = append(q.buckets, bucket{prio: p})
	}
	q.buckets[i].q = append(q.buckets[i].q, m)
	q.n++
}

func (q *outQueue) pop() *Message {
	for i := range q.buckets {
		b := &q.buckets[i]
		if b.head < len(b.q) {
			m := b.q[b.head]
			b.q[b.head] = nil
			b.head++
			if b.head == len(b.q) {
				b.q, b.head = b.q[:0], 0
			}
			q.n--
			return m
		}
	}
	return nil
}

func (q *outQueue) len() int { return q.n }

// drain removes and returns everything.
func (q *outQueue) drain() []*Message {
	var out []*Message
	for m := q.pop(); m != nil; m = q.pop() {
		out = append(out, m)
	}
	return out
}
