package proxy

import (
	"errors"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
)

// Lingering close: once both directions have ended, the session closes
// both connections as soon as their out-queues are empty (Close would drop
// queued bytes). The engine contract has no "flushed" event, so the
// session checks on a short timer, backing off up to maxLingerStep; the
// fin/inactivity timeouts still bound the wait.
const (
	firstLingerStep = time.Millisecond
	maxLingerStep   = 50 * time.Millisecond
)

// ends returns a channel's source and destination connections.
func (s *session) ends(ch *channel) (src, dst engine.Conn) {
	if ch == &s.req {
		return s.cli, s.srvConn
	}
	return s.srvConn, s.cli
}

// count adds n relayed bytes to the frontend, backend and server counters.
func (s *session) count(ch *channel, n int) {
	if n <= 0 {
		return
	}
	if ch == &s.req {
		s.bytesIn += int64(n)
		s.fe.st.bin.Add(int64(n))
		s.be.st.bin.Add(int64(n))
		s.srv.st.bin.Add(int64(n))
	} else {
		s.bytesOut += int64(n)
		s.fe.st.bout.Add(int64(n))
		s.be.st.bout.Add(int64(n))
		s.srv.st.bout.Add(int64(n))
	}
	if s.scBytes {
		s.countSC(ch == &s.req, n)
	}
}

// abortTerm is the termination state when writing to dst fails.
func (s *session) abortTerm(ch *channel) string {
	if ch == &s.req {
		return "SD"
	}
	return "CD"
}

// forward relays in from a channel's source to its destination. It always
// consumes everything it is given (the engine's read buffer stays empty),
// and pauses the source once the destination's out-queue passes the
// high-water mark; OnDrained resumes it. A channel therefore holds at most
// high-water + one read = 1.5 × tune.bufsize.
func (s *session) forward(ch *channel, src, dst engine.Conn, in []byte) int {
	if dst == nil || ch.shutw {
		return len(in)
	}
	if err := dst.Write(in); err != nil {
		if errors.Is(err, engine.ErrOutQueueFull) {
			// Cannot happen with EngineConfig's marks; if an engine is
			// configured otherwise, wait for OnDrained with the bytes left
			// in the engine's read buffer.
			src.PauseRead()
			ch.paused = true
			return 0
		}
		s.end(s.abortTerm(ch))
		return len(in)
	}
	s.count(ch, len(in))
	now := s.p.clock.Now()
	s.cliLast, s.srvLast = now, now
	if dst.OutQueued() > s.p.bufsize/2 {
		src.PauseRead()
		ch.paused = true
	} else if ch.splice == spliceAuto && len(in) >= s.p.bufsize {
		// A full read means bulk transfer: splice-auto switches to the
		// kernel relay for the next chunk (HAProxy's heuristic, simplified).
		s.startSplice(ch)
	}
	return len(in)
}

// writeCounted writes bytes held by the session (early client data) to
// dst; false if the session ended.
func (s *session) writeCounted(ch *channel, dst engine.Conn, b []byte) bool {
	if err := dst.Write(b); err != nil {
		s.end(s.abortTerm(ch))
		return false
	}
	s.count(ch, len(b))
	if dst.OutQueued() > s.p.bufsize/2 {
		src, _ := s.ends(ch)
		src.PauseRead()
		ch.paused = true
	}
	return true
}

// drained: dst's out-queue fell to the low-water mark.
func (s *session) drained(ch *channel, src engine.Conn) {
	if ch.paused && !ch.shutr {
		ch.paused = false
		src.ResumeRead()
	}
	if s.lingerWait > 0 {
		s.checkLinger()
	}
}

// shutr: the channel's source sent EOF. Pass it on as shutw behind the
// bytes already queued (CloseWrite sends FIN after them), and end the
// session once both directions are done.
func (s *session) shutr(ch *channel) {
	ch.shutr = true
	_, dst := s.ends(ch)
	if !ch.shutw {
		ch.shutw = true
		if err := dst.CloseWrite(); err != nil && !errors.Is(err, engine.ErrClosed) {
			s.end(s.abortTerm(ch))
			return
		}
	}
	now := s.p.clock.Now()
	s.cliLast, s.srvLast = now, now
	if s.req.shutw && s.res.shutw {
		s.lingerWait = firstLingerStep
		s.checkLinger()
		return
	}
	s.armTimer() // the fin timeouts may be shorter
}

// checkLinger ends the session once nothing is left to send either way.
func (s *session) checkLinger() {
	if s.phase != phData {
		return
	}
	if s.cli.OutQueued() == 0 && s.srvConn.OutQueued() == 0 {
		s.end("--")
		return
	}
	s.lingerWait = min(2*s.lingerWait, maxLingerStep)
	s.armTimer()
}

// ---- splice ----

// spliceMode is how a direction uses the engine's Splicer: never, after a
// full read (option splice-auto), or always (option splice-request /
// splice-response).
type spliceMode uint8

const (
	spliceOff spliceMode = iota
	spliceAuto
	spliceAlways
)

// spliceChunk is the limit of one Splice call. Counters and activity are
// updated when a chunk ends, so they lag by at most one chunk.
const spliceChunk = 1 << 20

func (s *session) setupSplice() {
	fe, be := s.fe.cfg, s.be.cfg
	mode := func(forced bool) spliceMode {
		switch {
		case forced:
			return spliceAlways
		case fe.SpliceAuto || be.SpliceAuto:
			return spliceAuto
		}
		return spliceOff
	}
	s.req.splice = mode(fe.SpliceRequest || be.SpliceRequest)
	s.res.splice = mode(fe.SpliceResponse || be.SpliceResponse)
	if s.req.splice == spliceAlways {
		s.startSplice(&s.req)
	}
	if s.res.splice == spliceAlways {
		s.startSplice(&s.res)
	}
}

func (s *session) startSplice(ch *channel) {
	if ch.splicing || ch.shutr || s.phase != phData {
		return
	}
	src, dst := s.ends(ch)
	sp, ok := src.(engine.Splicer)
	if _, tlsDst := dst.(*tlsconn.Conn); tlsDst {
		ok = false // TLS has no pipe variant: the bytes must be encrypted
	}
	if !ok {
		ch.splice = spliceOff
		return
	}
	ch.splicing = true
	err := sp.Splice(dst, spliceChunk, func(n int64, err error) { s.spliceDone(ch, n, err) })
	if err != nil {
		// Not available for this pair (another engine's conn, say): copy.
		ch.splicing = false
		ch.splice = spliceOff
	}
}

func (s *session) spliceDone(ch *channel, n int64, err error) {
	ch.splicing = false
	if s.phase != phData {
		return
	}
	s.count(ch, int(n))
	now := s.p.clock.Now()
	s.cliLast, s.srvLast = now, now
	if err != nil {
		s.end(s.abortTerm(ch))
		return
	}
	if n < spliceChunk {
		s.shutr(ch) // EOF: the engine reports no OnReadEOF after a splice
		return
	}
	if ch.splice == spliceAlways {
		s.startSplice(ch)
	}
}
