package enginetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"math/rand/v2"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/engine"
)

// echoServer listens with handlers that write back what they read and
// close on read EOF.
func (k *kit) echoServer(e engine.Engine, hs *handlers) string {
	t := k.t
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "echo-server", nil)
		h.open = func(c engine.Conn) {
			if a := c.RemoteAddr(); a != nil {
				h.remote = a.String()
			}
		}
		h.data = func(c engine.Conn, in []byte) int {
			// ErrClosed is the right answer when the conn was closed from
			// another goroutine while this callback ran (the engine's
			// Shutdown at the end of a case, racing the last echo): no
			// callback can be fenced off from that. Every client here
			// counts the echoes it gets back, so a wrongly refused Write
			// still fails the case.
			if err := c.Write(in); err != nil && !errors.Is(err, engine.ErrClosed) {
				t.Errorf("echo-server Write: %v", err)
			}
			return len(in)
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		if hs != nil {
			hs.add(h)
		}
		return h
	})
	return addr
}

// Spec: "Read side", "Write side". Ping-pong of a short message; the
// addresses each side reports agree.
func testEcho(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	srv := newHandlers(1)
	addr := k.echoServer(e, srv)

	msg := []byte("hello, engine")
	const rounds = 100
	var got []byte
	var n int
	var laddr string // client's local address, published by close(cl.openedCh)
	cl := newHandler(t, "client", nil)
	cl.open = func(c engine.Conn) {
		if c.LocalAddr() == nil || c.RemoteAddr() == nil {
			t.Errorf("addresses missing in OnOpen: local %v remote %v", c.LocalAddr(), c.RemoteAddr())
		} else {
			laddr = c.LocalAddr().String()
			if c.RemoteAddr().String() != addr {
				t.Errorf("RemoteAddr %v, dialed %s", c.RemoteAddr(), addr)
			}
		}
		if err := c.Write(msg); err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	cl.data = func(c engine.Conn, in []byte) int {
		got = append(got, in...)
		if len(got) == (n+1)*len(msg) {
			n++
			if n == rounds {
				_ = c.Close()
			} else if err := c.Write(msg); err != nil {
				t.Errorf("Write: %v", err)
			}
		}
		return len(in)
	}
	k.dial(e, addr, cl, engine.DialOptions{})
	if err := cl.waitClosed(t); err != nil {
		t.Errorf("client OnClose after local Close: %v, want nil", err)
	}
	if want := bytes.Repeat(msg, rounds); !bytes.Equal(got, want) {
		t.Fatalf("echo: got %d bytes, want %d identical bytes", len(got), len(want))
	}
	sh := srv.next(t)
	if err := sh.waitClosed(t); err != nil {
		t.Errorf("server OnClose after local Close: %v, want nil", err)
	}
	if sh.remote != laddr {
		t.Errorf("server sees peer %q, client's local address is %q", sh.remote, laddr)
	}
}

// Spec: "Partial consumption". The server consumes one byte per OnData;
// every byte must still arrive, in order, with nothing repeated.
func testPartialReads(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const size = 64 << 10
	var off int64
	done := make(chan struct{})
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			if in[0] != patternByte(off) {
				t.Errorf("byte %d: got %#x want %#x", off, in[0], patternByte(off))
			}
			off++
			if off == size {
				close(done)
			}
			return 1
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		return h
	})
	cl := newHandler(t, "client", nil)
	cl.open = func(c engine.Conn) {
		b := make([]byte, size)
		fillPattern(b, 0)
		if err := c.Write(b); err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	c := k.dial(e, addr, cl, engine.DialOptions{})
	wait(t, done, "64 KiB delivered one byte per OnData")
	_ = c.Close()
	cl.waitClosed(t)
}

// Spec: "Partial consumption". Length-prefixed records written in random
// pieces; the server consumes whole records only and returns 0 while one
// is incomplete, so bytes must stay buffered with newer bytes appended.
func testPartialConsumption(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	const records = 2000
	var stream []byte
	var want [][]byte
	for i := 0; i < records; i++ {
		r := make([]byte, rng.IntN(200))
		for j := range r {
			r[j] = byte(rng.Uint32())
		}
		want = append(want, r)
		stream = append(stream, byte(len(r)))
		stream = append(stream, r...)
	}
	var got int
	done := make(chan struct{})
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			used := 0
			for len(in)-used >= 1 && len(in)-used >= 1+int(in[used]) {
				n := int(in[used])
				if got >= records || !bytes.Equal(in[used+1:used+1+n], want[got]) {
					t.Errorf("record %d corrupted", got)
					_ = c.Close()
					return len(in)
				}
				got++
				used += 1 + n
			}
			if got == records {
				close(done)
			}
			return used
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		return h
	})
	cl := newHandler(t, "client", nil)
	cl.open = func(c engine.Conn) {
		for s := stream; len(s) > 0; {
			n := min(len(s), 1+rng.IntN(700))
			if err := c.Write(s[:n]); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			s = s[n:]
		}
	}
	c := k.dial(e, addr, cl, engine.DialOptions{})
	wait(t, done, "all records")
	_ = c.Close()
	cl.waitClosed(t)
}

// Spec: "Write side". 16 KiB sent as single-byte Writes, echoed back as
// single-byte Writes.
func testSingleByteWrites(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const size = 16 << 10
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			for i := range in {
				if err := c.Write(in[i : i+1]); err != nil {
					t.Errorf("server Write: %v", err)
				}
			}
			return len(in)
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		return h
	})
	var off int64
	done := make(chan struct{})
	cl := newHandler(t, "client", nil)
	cl.open = func(c engine.Conn) {
		var b [1]byte
		for i := int64(0); i < size; i++ {
			b[0] = patternByte(i)
			if err := c.Write(b[:]); err != nil {
				t.Errorf("client Write: %v", err)
				return
			}
			b[0] = 0 // the engine must have copied it
		}
	}
	cl.data = func(c engine.Conn, in []byte) int {
		if i := checkPattern(in, off); i >= 0 {
			t.Errorf("echoed byte %d wrong", off+int64(i))
		}
		off += int64(len(in))
		if off == size {
			close(done)
		}
		return len(in)
	}
	c := k.dial(e, addr, cl, engine.DialOptions{})
	wait(t, done, "16 KiB of single-byte writes echoed")
	_ = c.Close()
	cl.waitClosed(t)
}

// Spec: "Read side", limit. A handler that never consumes a full read
// buffer gets its connection closed with ErrReadBufferFull.
func testReadBufferFull(k *kit) {
	t := k.t
	e := k.engine(engine.Config{ReadBufferSize: engine.MinReadBufferSize})
	srv := newHandlers(1)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(engine.Conn, []byte) int { return 0 }
		srv.add(h)
		return h
	})
	cl := newHandler(t, "client", nil)
	cl.open = func(c engine.Conn) {
		if err := c.Write(make([]byte, 4*engine.MinReadBufferSize)); err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	cl.eof = func(c engine.Conn) { _ = c.Close() }
	k.dial(e, addr, cl, engine.DialOptions{})
	if err := srv.next(t).waitClosed(t); !errors.Is(err, engine.ErrReadBufferFull) {
		t.Errorf("server OnClose: %v, want ErrReadBufferFull", err)
	}
	cl.waitClosed(t)
}

// Spec: "Read side", handler bug. OnData reporting more bytes than it was
// given, or fewer than none, closes the connection with ErrConsumedRange;
// the engine neither clamps the count nor delivers again.
func testConsumedOutOfRange(k *kit) {
	t := k.t
	for _, tc := range []struct {
		name  string
		count func(in []byte) int
	}{
		{"above len(in)", func(in []byte) int { return len(in) + 1 }},
		{"negative", func([]byte) int { return -1 }},
	} {
		e := k.engine(engine.Config{})
		srv := newHandlers(1)
		var calls atomic.Int32
		_, addr := k.listen(e, func(engine.Conn) engine.Handler {
			h := newHandler(t, "server", nil)
			h.badCount = true
			h.data = func(_ engine.Conn, in []byte) int {
				calls.Add(1)
				return tc.count(in)
			}
			srv.add(h)
			return h
		})
		cl := newHandler(t, "client", nil)
		cl.open = func(c engine.Conn) {
			if err := c.Write([]byte("ping")); err != nil {
				t.Errorf("%s: Write: %v", tc.name, err)
			}
		}
		cl.eof = func(c engine.Conn) { _ = c.Close() }
		k.dial(e, addr, cl, engine.DialOptions{})
		if err := srv.next(t).waitClosed(t); !errors.Is(err, engine.ErrConsumedRange) {
			t.Errorf("%s: server OnClose: %v, want ErrConsumedRange", tc.name, err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%s: OnData called %d times, want 1 (no delivery after the bad count)", tc.name, n)
		}
		cl.waitClosed(t)
	}
}

// streamer sends total bytes from a fixed random block, hashing what it
// sends; vectored selects Writev (the block is never modified, so handing
// it over is allowed).
type streamer struct {
	block    []byte
	total    int64
	sent     int64
	vectored bool
	sum      hash.Hash
	finished bool
	errs     func(format string, args ...any)
	final    []byte        // sum of everything sent, set before doneCh closes
	doneCh   chan struct{} // closed on the writer's loop when all is sent
}

func (s *streamer) fill(c engine.Conn) {
	const chunk = 64 << 10
	for !s.finished {
		if s.sent == s.total {
			s.finished = true
			s.final = s.sum.Sum(nil)
			close(s.doneCh)
			if err := c.CloseWrite(); err != nil {
				s.errs("CloseWrite: %v", err)
			}
			return
		}
		off := int(s.sent % int64(len(s.block)))
		n := int(min(int64(chunk), s.total-s.sent, int64(len(s.block)-off)))
		b := s.block[off : off+n]
		var err error
		if s.vectored {
			h := n / 2
			err = c.Writev([][]byte{b[:h], b[h:]})
		} else {
			err = c.Write(b)
		}
		if errors.Is(err, engine.ErrOutQueueFull) {
			return // OnDrained calls fill again
		}
		if err != nil {
			s.errs("write: %v", err)
			return
		}
		s.sum.Write(b)
		s.sent += int64(n)
	}
}

// Spec: "Write side", "Read EOF and half-close". 64 MiB each way at once,
// checked with SHA-256, each side ending with CloseWrite.
func testBulkBothWays(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const total = 64 << 20
	block := make([]byte, 1<<20)
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	type side struct {
		out   *streamer
		in    hash.Hash
		n     atomic.Int64 // bytes received; read by the waiter's progress check
		inSum []byte
	}
	mk := func(vectored bool) *side {
		return &side{out: &streamer{block: block, total: total, vectored: vectored, sum: sha256.New(), errs: t.Errorf, doneCh: make(chan struct{})}, in: sha256.New()}
	}
	srvSide, cliSide := mk(true), mk(false)
	var closes atomic.Int32
	install := func(h *handler, s *side) {
		h.open = func(c engine.Conn) { s.out.fill(c) }
		h.drained = func(c engine.Conn) { s.out.fill(c) }
		h.data = func(c engine.Conn, in []byte) int {
			s.in.Write(in)
			s.n.Add(int64(len(in)))
			return len(in)
		}
		h.eof = func(c engine.Conn) {
			s.inSum = s.in.Sum(nil)
		}
		h.closed = func(engine.Conn, error) { closes.Add(1) }
	}
	srvConn := make(chan engine.Conn, 1)
	sh := newHandler(t, "server", nil)
	install(sh, srvSide)
	_, addr := k.listen(e, func(c engine.Conn) engine.Handler {
		srvConn <- c
		return sh
	})
	ch := newHandler(t, "client", nil)
	install(ch, cliSide)
	cc := k.dial(e, addr, ch, engine.DialOptions{})
	// The bound is on a stall, not on the duration: under load a userspace
	// stack moved 1-2 MB/s here (issue 16), 64 s for this case.
	received := func() int64 { return srvSide.n.Load() + cliSide.n.Load() }
	sh.waitEOFProgress(t, "server read EOF after 64 MiB", received)
	ch.waitEOFProgress(t, "client read EOF after 64 MiB", received)
	if srvSide.n.Load() != total || cliSide.n.Load() != total {
		t.Fatalf("received %d and %d bytes, want %d each way", srvSide.n.Load(), cliSide.n.Load(), total)
	}
	wait(t, srvSide.out.doneCh, "server writer finished")
	wait(t, cliSide.out.doneCh, "client writer finished")
	if !bytes.Equal(srvSide.inSum, cliSide.out.final) {
		t.Errorf("client->server: sha256 mismatch")
	}
	if !bytes.Equal(cliSide.inSum, srvSide.out.final) {
		t.Errorf("server->client: sha256 mismatch")
	}
	_ = cc.Close()
	(<-srvConn).Close()
	ch.waitClosed(t)
	sh.waitClosed(t)
}

// Spec: "Read side", limit. A handler that waits for whole messages of
// exactly ReadBufferSize bytes (returning 0 until one is complete) must get
// them: the limit is reached, not exceeded, so no ErrReadBufferFull.
func testMessageOfBufferSize(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const size = engine.DefaultReadBufferSize
	const messages = 16
	var off int64
	done := make(chan struct{})
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			if len(in) < size {
				return 0
			}
			if len(in) > size {
				t.Errorf("OnData offered %d bytes, more than ReadBufferSize %d", len(in), size)
			}
			if i := checkPattern(in[:size], off); i >= 0 {
				t.Errorf("message byte %d wrong", off+int64(i))
			}
			off += size
			if off == size*messages {
				close(done)
			}
			return size
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		return h
	})
	p := newPump(t, 16<<10, engine.DefaultOutQueueLimit, size*messages)
	ch := newHandler(t, "client", nil)
	ch.open = p.fill
	ch.drained = p.fill
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, done, "16 messages of ReadBufferSize bytes")
	_ = c.Close()
	ch.waitClosed(t)
}

// Spec: "Write and Writev: ownership". One Writev of 5,000 slices (more
// than the kernel's IOV_MAX of 1024) of varied sizes arrives intact.
func testWritevManySlices(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const slices = 5000
	var bufs [][]byte
	var total int64
	for i := 0; i < slices; i++ {
		b := make([]byte, 1+i%97)
		fillPattern(b, total)
		total += int64(len(b))
		bufs = append(bufs, b)
	}
	var off int64
	done := make(chan struct{})
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			if i := checkPattern(in, off); i >= 0 {
				t.Errorf("byte %d wrong", off+int64(i))
				_ = c.Close()
			}
			off += int64(len(in))
			if off == total {
				close(done)
			}
			return len(in)
		}
		h.eof = func(c engine.Conn) { _ = c.Close() }
		return h
	})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		if err := c.Writev(bufs); err != nil {
			t.Errorf("Writev: %v", err)
		}
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, done, "5,000-slice Writev")
	_ = c.Close()
	ch.waitClosed(t)
}
