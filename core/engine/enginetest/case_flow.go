package enginetest

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// flowConfig keeps the out-queue small so backpressure shows quickly.
var flowConfig = engine.Config{OutQueueLimit: 256 << 10, OutQueueHighWater: 128 << 10, OutQueueLowWater: 32 << 10}

// patternSink is a server handler that checks a pattern stream and closes
// done once target bytes arrived (target is read at each delivery, so a
// case may lower it while the stream is held back).
type patternSink struct {
	h      *handler
	off    int64
	target *atomic.Int64
	done   chan struct{}
}

func newPatternSink(k *kit, target *atomic.Int64) *patternSink {
	s := &patternSink{h: newHandler(k.t, "server", nil), target: target, done: make(chan struct{})}
	return s
}

func (s *patternSink) consume(c engine.Conn, in []byte) {
	if i := checkPattern(in, s.off); i >= 0 {
		s.h.t.Errorf("stream byte %d wrong: lost, repeated or reordered", s.off+int64(i))
		_ = c.Close()
	}
	s.off += int64(len(in))
	if s.off == s.target.Load() {
		close(s.done)
	}
}

// Spec: "PauseRead and ResumeRead". The server pauses inside OnData with
// half of the bytes unconsumed; while paused no OnData arrives although the
// client keeps writing until everything between them is full; after
// ResumeRead the held bytes come first and the stream is intact.
func testPauseRead(k *kit) {
	t := k.t
	e := k.engine(flowConfig)
	var target atomic.Int64
	target.Store(64 << 20) // far more than any loopback buffering
	sink := newPatternSink(k, &target)
	var paused atomic.Bool
	pausedCh := make(chan struct{})
	first := true
	sink.h.data = func(c engine.Conn, in []byte) int {
		if paused.Load() {
			t.Errorf("OnData while paused (spec: PauseRead stops deliveries)")
			paused.Store(false) // report once
		}
		if first && len(in) > 1 {
			first = false
			half := len(in) / 2
			sink.consume(c, in[:half])
			c.PauseRead()
			c.PauseRead() // idempotent
			paused.Store(true)
			close(pausedCh)
			return half
		}
		sink.consume(c, in)
		return len(in)
	}
	sink.h.eof = func(c engine.Conn) { _ = c.Close() }
	srvConn := make(chan engine.Conn, 1)
	_, addr := k.listen(e, func(c engine.Conn) engine.Handler { srvConn <- c; return sink.h })

	p := newPump(t, 64<<10, flowConfig.OutQueueLimit, 64<<20)
	ch := newHandler(t, "client", nil)
	ch.open = p.fill
	ch.drained = p.fill
	cc := k.dial(e, addr, ch, engine.DialOptions{})
	sc := <-srvConn
	wait(t, pausedCh, "first OnData")
	waitStall(t, p)
	// Let the stream end 1 MiB after the point where it stalled.
	p.endAfter(cc, ch, 1<<20, &target)
	err := sc.Execute(sink.h.g.run("resume", func() {
		paused.Store(false)
		sc.ResumeRead()
		sc.ResumeRead() // idempotent
	}))
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	wait(t, sink.done, "the held-back stream after ResumeRead")
	_ = cc.Close()
	ch.waitClosed(t)
	sink.h.waitClosed(t)
}

// Spec: "Out-queue limit", "High and low water". A Write or Writev that
// would pass OutQueueLimit is refused whole with ErrOutQueueFull; OnDrained
// follows once the peer reads, with the queue at or below low water, and
// writes succeed again.
func testOutQueueLimit(k *kit) {
	t := k.t
	cfg := flowConfig
	e := k.engine(cfg)
	var target atomic.Int64
	target.Store(64 << 20)
	sink := newPatternSink(k, &target)
	sink.h.open = func(c engine.Conn) { c.PauseRead() }
	sink.h.data = func(c engine.Conn, in []byte) int { sink.consume(c, in); return len(in) }
	sink.h.eof = func(c engine.Conn) { _ = c.Close() }
	srvConn := make(chan engine.Conn, 1)
	_, addr := k.listen(e, func(c engine.Conn) engine.Handler { srvConn <- c; return sink.h })

	p := newPump(t, 64<<10, cfg.OutQueueLimit, 64<<20)
	var drains atomic.Int64
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		big := make([]byte, cfg.OutQueueLimit+1)
		if err := c.Write(big); !errors.Is(err, engine.ErrOutQueueFull) {
			t.Errorf("Write of OutQueueLimit+1 bytes: %v, want ErrOutQueueFull", err)
		}
		if q := c.OutQueued(); q != 0 {
			t.Errorf("refused Write left %d bytes queued", q)
		}
		p.fill(c)
		// The queue is nearly full now: a Writev that does not fit is
		// refused as a whole.
		before := c.OutQueued()
		room := cfg.OutQueueLimit - before
		err := c.Writev([][]byte{make([]byte, room/2+1), make([]byte, room/2+1)})
		if !errors.Is(err, engine.ErrOutQueueFull) {
			t.Errorf("Writev of %d bytes with %d of room: %v, want ErrOutQueueFull", room+2, room, err)
		}
		if after := c.OutQueued(); after > before {
			t.Errorf("refused Writev queued bytes: OutQueued %d -> %d", before, after)
		}
	}
	ch.drained = func(c engine.Conn) {
		drains.Add(1)
		if q := c.OutQueued(); q > cfg.OutQueueLowWater {
			t.Errorf("OnDrained with %d bytes queued, above low water %d", q, cfg.OutQueueLowWater)
		}
		sent := p.sent.Load()
		p.fill(c)
		if p.sent.Load() == sent && p.sent.Load() < p.target.Load() {
			t.Errorf("Write refused right after OnDrained")
		}
	}
	cc := k.dial(e, addr, ch, engine.DialOptions{})
	sc := <-srvConn
	waitStall(t, p)
	d0 := drains.Load()
	p.endAfter(cc, ch, 1<<20, &target)
	if err := sc.Execute(sink.h.g.run("resume", sc.ResumeRead)); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	wait(t, sink.done, "the stream after the peer resumed reading")
	if drains.Load() == d0 {
		t.Errorf("no OnDrained after the peer read the backlog")
	}
	_ = cc.Close()
	ch.waitClosed(t)
	sink.h.waitClosed(t)
}

// Spec: "PauseRead and ResumeRead", "Read EOF". The reader is paused
// while idle (an engine may have a read in progress then), and the peer
// shuts its write side: OnReadEOF must wait for ResumeRead.
func testPauseHoldsEOF(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	const size = 32 << 10
	var paused atomic.Bool
	var off int64
	gotAll := make(chan struct{})
	srvConn := make(chan engine.Conn, 1)
	sh := newHandler(t, "server", nil)
	sh.open = func(c engine.Conn) { srvConn <- c }
	sh.data = func(c engine.Conn, in []byte) int {
		if paused.Load() {
			t.Errorf("OnData while paused")
		}
		if i := checkPattern(in, off); i >= 0 {
			t.Errorf("byte %d wrong", off+int64(i))
		}
		off += int64(len(in))
		if off == size {
			close(gotAll)
		}
		return len(in)
	}
	sh.eof = func(c engine.Conn) {
		if paused.Load() {
			t.Errorf("OnReadEOF while paused (spec: reported after ResumeRead)")
		}
		_ = c.Close()
	}
	_, addr := k.listen(e, func(engine.Conn) engine.Handler { return sh })
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		b := make([]byte, size)
		fillPattern(b, 0)
		if err := c.Write(b); err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	ch.eof = func(c engine.Conn) { _ = c.Close() }
	cc := k.dial(e, addr, ch, engine.DialOptions{})
	sc := <-srvConn
	wait(t, gotAll, "the data before the pause")
	pausedCh := make(chan struct{})
	if err := sc.Execute(sh.g.run("pause", func() {
		sc.PauseRead()
		paused.Store(true)
		close(pausedCh)
	})); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	wait(t, pausedCh, "pause")
	if err := cc.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	// Give the FIN time to arrive while paused: a wrong engine reports
	// it now; a correct one holds it whatever the timing.
	quiet := time.NewTimer(100 * time.Millisecond)
	<-quiet.C
	if err := sc.Execute(sh.g.run("resume", func() { paused.Store(false); sc.ResumeRead() })); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	sh.waitEOF(t, "server OnReadEOF after ResumeRead")
	sh.waitClosed(t)
	ch.waitClosed(t)
}

// testEOFAfterPartial: bytes the handler cannot use yet (it consumes 0,
// waiting for more) followed by the peer's FIN: OnReadEOF still comes, so
// a protocol can fail a truncated frame instead of waiting for ever.
func testEOFAfterPartial(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	gotEOF := make(chan struct{})
	var seen atomic.Int64
	sh := newHandler(t, "server", nil)
	sh.data = func(c engine.Conn, in []byte) int {
		seen.Store(int64(len(in)))
		return 0 // a partial message: wait for more
	}
	sh.eof = func(c engine.Conn) {
		close(gotEOF)
		_ = c.Close()
	}
	_, addr := k.listen(e, func(engine.Conn) engine.Handler { return sh })
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		if err := c.Write([]byte("abc")); err != nil {
			t.Errorf("Write: %v", err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
	}
	ch.eof = func(c engine.Conn) { _ = c.Close() }
	k.dial(e, addr, ch, engine.DialOptions{})
	wait(t, gotEOF, "OnReadEOF after 3 unconsumed bytes and FIN")
	if n := seen.Load(); n != 3 {
		t.Errorf("OnData saw %d bytes last, want 3", n)
	}
}
