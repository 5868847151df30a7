package loopkit

import "sync"

// ReadBufs lends read buffers to connections that hold one only while it
// holds bytes: an idle connection (nothing received and not consumed)
// gives its buffer back, so a server holding many idle connections pays
// for buffers only on the ones with data in flight, as HAProxy allocates
// its buffers on demand.
//
// Buffers come in size classes: Min, doubling, up to Max (the engine's
// ReadBufferSize, the last class whatever its size), so a connection whose
// reads fill its buffer can move to a bigger one. Get and Put do not
// allocate in steady state (the pools hold *[]byte).
//
// Bounds: a connection holds at most one buffer of at most Max bytes. The
// pools hold only buffers no connection uses; they are sync.Pools, so the
// runtime drops what stays unused across two garbage collections.
type ReadBufs struct {
	min, max int
	classes  []sync.Pool
}

// NewReadBufs returns pools for buffers of lo bytes up to hi bytes
// (hi >= lo > 0).
func NewReadBufs(lo, hi int) *ReadBufs {
	hi = max(hi, lo)
	p := &ReadBufs{min: lo, max: hi}
	for size := lo; ; size *= 2 {
		size := min(size, hi)
		p.classes = append(p.classes, sync.Pool{New: func() any { b := make([]byte, size); return &b }})
		if size == hi {
			break
		}
	}
	return p
}

// Max is the largest buffer size.
func (p *ReadBufs) Max() int { return p.max }

// class is the index of the smallest class holding size bytes.
func (p *ReadBufs) class(size int) int {
	i, c := 0, p.min
	for c < size && i < len(p.classes)-1 {
		i, c = i+1, c*2
	}
	return i
}

// Get lends a buffer of at least size bytes (at most Max); its length is
// its class's size.
func (p *ReadBufs) Get(size int) *[]byte {
	return p.classes[p.class(size)].Get().(*[]byte)
}

// Put gives back a buffer from Get. The caller must not use it afterwards.
func (p *ReadBufs) Put(b *[]byte) {
	i := p.class(len(*b))
	if i < len(p.classes) && p.classSize(i) == len(*b) {
		p.classes[i].Put(b)
	}
}

func (p *ReadBufs) classSize(i int) int { return min(p.min<<i, p.max) }

// Grow lends a buffer twice as big as *b (at most Max) holding b's first
// used bytes, and gives b back.
func (p *ReadBufs) Grow(b *[]byte, used int) *[]byte {
	nb := p.Get(min(2*len(*b), p.max))
	copy(*nb, (*b)[:used])
	p.Put(b)
	return nb
}
