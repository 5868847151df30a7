package netsim

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/sleep"
)

// frameBuf is the size of a frame buffer: a full frame at MTU plus its
// Ethernet header and a VLAN tag, rounded up. The taps get MTU, so no
// frame is longer.
const frameBuf = 2048

// coarseWait: a wait longer than this sleeps on a runtime timer (which
// new frames can interrupt) until this much is left; the rest is a
// precise nanosleep (core/sleep), since a runtime timer wakes about a
// millisecond late here and dc's delay is 100 µs.
const coarseWait = 2 * time.Millisecond

// Emulator forwards Ethernet frames between two TAP devices, each
// direction through its own Link: per direction one goroutine reads
// frames into the Link and one writes them out when they are due. Memory
// is bounded by the Links' queue limits (frames beyond Limit are dropped
// at arrival, as a full router queue drops them).
type Emulator struct {
	dirs [2]*pipe
	wg   sync.WaitGroup
	once sync.Once
	done chan struct{}
}

// NewEmulator starts forwarding between a and b under p, a to b with a
// Link seeded with seed and b to a with seed+1. It owns a and b and
// closes them on Close.
func NewEmulator(a, b *os.File, p Profile, seed uint64) *Emulator {
	e := &Emulator{done: make(chan struct{})}
	e.dirs[0] = newPipe(a, b, NewLink(p, seed), p.limit())
	e.dirs[1] = newPipe(b, a, NewLink(p, seed+1), p.limit())
	for _, d := range e.dirs {
		e.wg.Add(2)
		go func() { defer e.wg.Done(); d.read() }()
		go func() { defer e.wg.Done(); d.write(e.done) }()
	}
	return e
}

// Counters returns the counts of each direction: a to b, then b to a.
func (e *Emulator) Counters() (ab, ba Counters) {
	return e.dirs[0].counters(), e.dirs[1].counters()
}

// Close stops forwarding, closes both devices (which removes them) and
// waits for the goroutines. Frames still queued are dropped. It returns
// the first read or write error other than the close itself.
func (e *Emulator) Close() error {
	var err error
	e.once.Do(func() {
		close(e.done)
		err = errors.Join(e.dirs[0].src.Close(), e.dirs[1].src.Close())
		e.wg.Wait()
		err = errors.Join(err, e.dirs[0].err, e.dirs[1].err)
	})
	return err
}

// pipe is one direction: src's frames into link, link's frames to dst.
type pipe struct {
	src, dst *os.File
	mu       sync.Mutex // guards link
	link     *Link
	wake     chan struct{} // the next due time moved earlier (capacity 1: a signal is never lost)
	free     chan []byte   // recycled buffers, at most limit of them
	err      error         // set by read before it returns
}

func newPipe(src, dst *os.File, l *Link, limit int) *pipe {
	return &pipe{src: src, dst: dst, link: l, wake: make(chan struct{}, 1), free: make(chan []byte, limit)}
}

func (p *pipe) counters() Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.link.Counters()
}

func (p *pipe) get() []byte {
	select {
	case b := <-p.free:
		return b[:frameBuf]
	default:
		return make([]byte, frameBuf)
	}
}

func (p *pipe) put(b []byte) {
	if cap(b) != frameBuf {
		return // a duplicate's copy
	}
	select {
	case p.free <- b:
	default:
	}
}

// read feeds frames from src into the link until src is closed.
func (p *pipe) read() {
	for {
		b := p.get()
		n, err := p.src.Read(b)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
		p.mu.Lock()
		before, waiting := p.link.Next()
		kept := p.link.Arrive(time.Now(), b[:n])
		after, _ := p.link.Next()
		p.mu.Unlock()
		if !kept {
			p.put(b)
		}
		// The writer needs waking only when the next due time moved
		// earlier (an empty queue, a reordered frame): under a 10 ms
		// delay that spares it a wake-up per frame.
		if !waiting || after.Before(before) {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// write delivers due frames to dst until done. Its thread has a 1 ns
// timer slack (sleep.LowTimerSlack), so a short delay is kept to tens of
// microseconds.
func (p *pipe) write(done <-chan struct{}) {
	sleep.LowTimerSlack()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch [][]byte
	for {
		p.mu.Lock()
		now := time.Now()
		batch = batch[:0]
		for b, ok := p.link.Pop(now); ok; b, ok = p.link.Pop(now) {
			batch = append(batch, b)
		}
		next, queued := p.link.Next()
		p.mu.Unlock()
		for _, b := range batch {
			// A write fails only when the far device is gone or full
			// (ENOBUFS): the frame is lost, as on a real link.
			_, _ = p.dst.Write(b)
			p.put(b)
		}
		if len(batch) > 0 {
			continue
		}
		if !queued {
			select {
			case <-p.wake:
			case <-done:
				return
			}
			continue
		}
		if d := time.Until(next); d > coarseWait {
			timer.Reset(d - coarseWait)
			select {
			case <-p.wake:
				timer.Stop()
			case <-timer.C:
			case <-done:
				return
			}
			continue
		}
		select {
		case <-done:
			return
		default:
		}
		sleep.Until(next)
	}
}
