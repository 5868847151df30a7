package proxy

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// phase is where a session stands. Each phase says what it waits for.
type phase uint8

const (
	phAdmit   phase = iota // a frontend/global maxconn slot (client paused)
	phHeader               // the PROXY header on an accept-proxy bind
	phTLS                  // the client's TLS handshake on an ssl bind (within timeout client)
	phContent              // request data for tcp-request content rules (inspect-delay)
	phQueue                // a server slot (backend queue)
	phConnect              // the server connection (dial, retries)
	phData                 // nothing: both legs relay until both directions end
	phClosed               // nothing: finished, late callbacks are ignored
)

// channel is one direction of a session: the request channel carries
// client bytes to the server, the response channel server bytes to the
// client. Its buffer is the destination's out-queue (bounded by the engine
// at OutQueueLimit, kept under high-water + one read by pausing the source).
type channel struct {
	shutr    bool // the source sent EOF
	shutw    bool // CloseWrite issued on the destination (after shutr)
	paused   bool // the source is paused until the destination drains
	splicing bool // a Splice runs for this direction
	splice   spliceMode
}

// session is one client connection and, once connected, its server
// connection (HAProxy's stream). Every method runs on the client's loop
// (the server leg shares it through DialOptions.Near). A proxy holds one per
// client connection, so the one-byte fields sit together (no padding after
// each): 568 bytes, the runtime's 576-byte size class.
type session struct {
	p  *Proxy
	fe *frontend
	be *backend

	cli     engine.Conn
	srvConn engine.Conn
	leg     *serverLeg // the current server leg; callbacks of older ones are ignored
	srv     *server    // the server whose slot this session holds (slot=true)
	granted *server    // slot handed over by the queue, guarded by be.mu

	bind int // index of the bind line in the frontend's config
	// cliTLS is the TLS layer's raw-side handler on an ssl bind: the
	// client connection's events go through it, and cli becomes its
	// plaintext Conn once the handshake succeeded.
	cliTLS   engine.Handler
	dec      proxyproto.Decoder
	hdrSeen  int  // bytes of an incomplete PROXY header seen so far
	hdrFirst byte // and its first byte (v1 or v2, for the log)
	phase    phase
	slot     bool // holds srv's slot
	// acceptProxy: the bind line has accept-proxy; inspectBE: the content
	// rules being run are the backend's; scBytes: one of the stick
	// counters' tables counts bytes; ended: end has run.
	acceptProxy, inspectBE, scBytes, ended bool
	// dstKnown: dst holds the destination (Dst fetched it, or a PROXY
	// header set it).
	dstKnown bool
	// src and dst are the client's addresses: from the socket, or from the
	// PROXY header on an accept-proxy bind. dst is read through Dst, which
	// asks the socket only when something needs it (a rule's dst fetch,
	// send-proxy, a server line without a port, srvkey addr): an engine
	// may pay a getsockname(2) for it, which HAProxy does not make per
	// session either.
	src, dst netip.AddrPort

	// pending holds client bytes read before the server leg is up, at most
	// tune.bufsize; at that size the client is paused. Content rules read
	// it.
	pending []byte
	// inspectStart: when the content rules started (inspect-delay counts
	// from there).
	inspectYield int    // a content rule waiting in its action (-1: none)
	inspectRan   uint64 // content rules (first 64) whose non-final action ran
	inspectStart time.Time
	// env is the reused evaluation context of conditions; tls caches the
	// client's TLS state (sample.go).
	env *config.Env
	tls *tls.ConnectionState
	req channel
	res channel

	admitted bool // holds a frontend/global slot
	// waited: admit put the session on the wait list, so a slot may have
	// been granted to it behind its back (end's unwait tells).
	waited     bool
	feCounted  bool // counted in the frontend's scur
	beCounted  bool // counted in the backend's scur
	srvCounted bool // counted in the server's scur
	tracked    bool // in srv.sessions (backend.trackSession)
	attempts   int  // connection attempts made
	bytesIn    int64
	bytesOut   int64
	// sc are the stick counters this session tracks (track-sc0..2, held
	// until end).
	sc [maxSC]stickCtr

	cliLast, srvLast time.Time // last activity on each side
	start, queued    time.Time
	connected        time.Time
	timer            engine.Timer
	timerAt          time.Time
	retry            engine.Timer
	lingerWait       time.Duration
	term             string // HAProxy-style termination state for the log
}

func newSession(fe *frontend, c engine.Conn, bind int) *session {
	s := &session{p: fe.p, fe: fe, cli: c, bind: bind, term: "--"}
	if bind < len(fe.cfg.Binds) {
		s.acceptProxy = fe.cfg.Binds[bind].AcceptProxy
	}
	s.dec = proxyproto.Decoder{MaxV2Length: s.p.bufsize - 16}
	return s
}

// ---- client leg (engine.Handler) ----

func (s *session) OnOpen(c engine.Conn) {
	p := s.p
	p.live.Add(1)
	now := p.clock.Now()
	s.start, s.cliLast = now, now
	s.src = addrPort(c.RemoteAddr())
	if p.stopping.Load() {
		s.end("PR")
		return
	}
	switch s.connRules() {
	case vReject:
		s.fe.st.dcon.Add(1)
		s.end("PR")
		return
	case vSilentDrop:
		s.fe.st.dcon.Add(1)
		s.silentDrop()
		s.end("PR")
		return
	}
	s.incSess()
	ok, waiting := s.fe.admit(s)
	switch {
	case ok:
		s.onAdmitted()
	case waiting:
		s.waited = true
		c.PauseRead()
		s.armTimer()
	default:
		s.end("PR") // wait list (backlog) full
	}
}

// onAdmitted runs once the session holds a frontend/global slot.
func (s *session) onAdmitted() {
	if s.phase != phAdmit {
		return // ended while waiting; the slot was given back by end
	}
	s.admitted = true
	s.cli.ResumeRead()
	if s.acceptProxy {
		s.phase = phHeader
		s.armTimer()
		return
	}
	s.afterHeader()
}

// afterHeader runs the connection's next handlers once the PROXY header
// (if any) is in: the TLS handshake on an ssl bind, then the backend.
func (s *session) afterHeader() {
	if s.fe.tlsCfg[s.bind] != nil {
		s.startClientTLS()
		return
	}
	s.clientReady()
}

// clientReady: the client connection is ready for content (after PROXY
// header and TLS handshake): content rules, then the backend.
func (s *session) clientReady() { s.startStream() }

// OnData, OnReadEOF, OnDrained and OnClose receive the client socket's
// events; on an ssl bind they go through the TLS layer, which calls the
// client* methods with plaintext (clientTLS in tls.go).
func (s *session) OnData(c engine.Conn, in []byte) int {
	if s.cliTLS != nil {
		return s.cliTLS.OnData(c, in)
	}
	return s.clientData(c, in)
}

func (s *session) OnReadEOF(c engine.Conn) {
	if s.cliTLS != nil {
		s.cliTLS.OnReadEOF(c)
		return
	}
	s.clientReadEOF()
}

func (s *session) OnDrained(c engine.Conn) {
	if s.cliTLS != nil {
		s.cliTLS.OnDrained(c)
		return
	}
	s.clientDrained()
}

func (s *session) OnClose(c engine.Conn, err error) {
	if s.cliTLS != nil {
		s.cliTLS.OnClose(c, err)
		return
	}
	s.clientClosed(err)
}

func (s *session) clientData(c engine.Conn, in []byte) int {
	switch s.phase {
	case phAdmit:
		c.PauseRead()
		return 0
	case phHeader:
		return s.readHeader(in)
	case phContent:
		n := s.buffer(in)
		s.inspect()
		return n
	case phQueue, phConnect:
		return s.buffer(in)
	case phData:
		return s.forward(&s.req, s.cli, s.srvConn, in)
	}
	return len(in)
}

// buffer keeps early client bytes until the server leg is up: at most
// tune.bufsize, or while content rules inspect them, HAProxy's inspect
// limit (inspectLimit); at the limit the client is paused.
func (s *session) buffer(in []byte) int {
	s.cliLast = s.p.clock.Now()
	limit := s.p.bufsize
	if s.phase == phContent {
		limit = s.inspectLimit()
	}
	n := max(min(limit-len(s.pending), len(in)), 0)
	if need := len(s.pending) + n; need > cap(s.pending) {
		// Sized to what came, doubling, never past the limit: early
		// bytes are usually one small request, and every session that
		// talks before its server leg is up passes here.
		nb := make([]byte, len(s.pending), min(max(need, 2*cap(s.pending)), limit))
		copy(nb, s.pending)
		s.pending = nb
	}
	s.pending = append(s.pending, in[:n]...)
	if len(s.pending) >= limit {
		s.cli.PauseRead()
	}
	return n
}

func (s *session) clientReadEOF() {
	switch s.phase {
	case phHeader:
		s.rejectHeader(s.headerEOF(false))
	case phData:
		s.shutr(&s.req)
	case phClosed:
	default:
		// Before the server leg is up the EOF is remembered and passed on
		// after the buffered bytes (HAProxy without abortonclose).
		s.req.shutr = true
		s.cliLast = s.p.clock.Now()
		if s.phase == phContent {
			s.inspect() // the data is final now
		}
	}
}

func (s *session) clientDrained() {
	if s.phase == phData {
		s.drained(&s.res, s.srvConn)
	}
}

func (s *session) clientClosed(err error) {
	if s.ended {
		return
	}
	switch s.phase {
	case phTLS:
		s.tlsHandshakeFailed(err, "CR")
	case phData:
		s.end("CD") // client aborted during data
	default:
		s.end("CR")
	}
}

// end finishes the session once: closes both legs and gives back every
// slot and counter it holds. term is the termination state for the log.
func (s *session) end(term string) {
	if s.ended {
		return
	}
	s.ended = true
	if s.term == "--" {
		s.term = term
	}
	prev := s.phase
	s.phase = phClosed
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.retry != nil {
		s.retry.Stop()
	}
	if s.srvConn != nil {
		_ = s.srvConn.Close()
	}
	_ = s.cli.Close()
	s.pending = nil

	switch prev {
	case phAdmit:
		// Not admitted yet; if a slot was granted meanwhile (its Execute
		// still pending or refused), give it back. Only a session that
		// was on the wait list can have been granted one: a session
		// refused at once (wait list full, connection rules, stopping) is
		// on no list either, and giving back the slot it never held let
		// every refused client raise maxconn by one (CurrConns 1,500
		// under maxconn 500 in a slowloris).
		if s.waited && !s.fe.unwait(s) {
			s.admitted = true
		}
	case phQueue:
		if granted := s.be.unqueue(s); granted != nil {
			s.be.release(granted)
		}
	}
	if s.srvCounted {
		s.srv.st.scur.Add(-1)
	}
	if s.tracked {
		s.be.untrackSession(s.srv, s)
	}
	if s.slot {
		s.slot = false
		s.be.release(s.srv)
	}
	if s.beCounted {
		s.be.st.scur.Add(-1)
	}
	if s.feCounted {
		// Logged with the backend and server counts already down and
		// the frontend's and the process's still up, as haproxy 2.6
		// does ("1/1/0/0/0" for a lone session).
		s.logSession()
		s.fe.st.scur.Add(-1)
	}
	if s.admitted {
		s.fe.leave()
	}
	s.untrackAll()
	if s.fe.budget != nil {
		s.fe.budget.Give(1) // the unit the engine took when it accepted s
	}
	s.p.live.Add(-1)
	s.p.maybeDone()
}

// kill ends the session for a health check (shutdownSessions); why is
// the first letter of its termination state, the second the phase (D:
// data).
func (s *session) kill(why string) {
	if s.phase == phClosed {
		return
	}
	s.term = why + "D"
	s.end(s.term)
}

// ---- timers ----

// nextDeadline is the earliest time at which the session must be checked,
// zero for none. Activity only moves stamps; the timer re-arms itself when
// it fires early, so the relay path never touches a timer.
func (s *session) nextDeadline() time.Time {
	fe, be := s.fe.cfg.Timeouts, s.beTimeouts()
	var at time.Time
	add := func(base time.Time, d time.Duration) {
		if d <= 0 {
			return
		}
		t := base.Add(d)
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	switch s.phase {
	case phAdmit, phHeader, phTLS:
		add(s.start, fe.Client)
	case phContent:
		add(s.inspectStart, s.inspectDelay())
		add(s.cliLast, fe.Client)
	case phQueue:
		q := be.Queue
		if q == 0 {
			q = be.Connect // HAProxy: no timeout queue means timeout connect
		}
		add(s.queued, q)
		add(s.cliLast, fe.Client)
	case phConnect:
		add(s.cliLast, fe.Client)
	case phData:
		add(s.cliLast, s.clientTimeout())
		add(s.srvLast, s.serverTimeout())
	}
	if s.lingerWait > 0 {
		add(s.p.clock.Now(), s.lingerWait)
	}
	return at
}

func (s *session) beTimeouts() (t struct{ Connect, Server, Tunnel, Queue, ServerFin time.Duration }) {
	if s.be == nil {
		return
	}
	b := s.be.cfg.Timeouts
	t.Connect, t.Server, t.Tunnel, t.Queue, t.ServerFin = b.Connect, b.Server, b.Tunnel, b.Queue, b.ServerFin
	return
}

// clientTimeout: timeout tunnel replaces client/server once connected;
// timeout client-fin applies once the client side is half-closed.
func (s *session) clientTimeout() time.Duration {
	fe, be := s.fe.cfg.Timeouts, s.beTimeouts()
	if (s.req.shutr || s.res.shutw) && fe.ClientFin > 0 {
		return fe.ClientFin
	}
	if be.Tunnel > 0 {
		return be.Tunnel
	}
	return fe.Client
}

func (s *session) serverTimeout() time.Duration {
	be := s.beTimeouts()
	if (s.res.shutr || s.req.shutw) && be.ServerFin > 0 {
		return be.ServerFin
	}
	if be.Tunnel > 0 {
		return be.Tunnel
	}
	return be.Server
}

// armTimer makes sure a timer fires no later than the next deadline.
func (s *session) armTimer() {
	if s.phase == phClosed {
		return
	}
	at := s.nextDeadline()
	if at.IsZero() {
		return
	}
	if s.timer != nil && !s.timerAt.After(at) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerAt = at
	s.timer = s.cli.AfterFunc(max(at.Sub(s.p.clock.Now()), 0), s.onTimer)
}

func (s *session) onTimer() {
	s.timer = nil
	if s.phase == phClosed {
		return
	}
	now := s.p.clock.Now()
	if s.lingerWait > 0 {
		s.checkLinger()
		if s.phase == phClosed {
			return
		}
	}
	// A spliced direction reports no progress until its chunk ends, so
	// it counts as active (spec/proxy.md, "Splice").
	if s.req.splicing || s.res.splicing {
		s.cliLast, s.srvLast = now, now
	}
	fe, be := s.fe.cfg.Timeouts, s.beTimeouts()
	expired := func(base time.Time, d time.Duration) bool { return d > 0 && !now.Before(base.Add(d)) }
	switch s.phase {
	case phAdmit:
		if expired(s.start, fe.Client) {
			s.end("cR")
			return
		}
	case phHeader:
		if expired(s.start, fe.Client) {
			s.rejectHeader(s.headerEOF(true))
			return
		}
	case phTLS:
		if expired(s.start, fe.Client) {
			s.tlsHandshakeFailed(tlsconn.ErrHandshakeTimeout, "cR")
			return
		}
	case phContent:
		if expired(s.inspectStart, s.inspectDelay()) {
			s.inspect() // decides: the delay makes the data final
			if s.phase == phClosed {
				return
			}
		} else if expired(s.cliLast, fe.Client) {
			s.end("cR")
			return
		}
	case phQueue:
		q := be.Queue
		if q == 0 {
			q = be.Connect
		}
		if expired(s.queued, q) {
			s.end("sQ")
			return
		}
		if expired(s.cliLast, fe.Client) {
			s.end("cQ")
			return
		}
	case phConnect:
		if expired(s.cliLast, fe.Client) {
			s.end("cC")
			return
		}
	case phData:
		if expired(s.cliLast, s.clientTimeout()) {
			s.end("cD")
			return
		}
		if expired(s.srvLast, s.serverTimeout()) {
			s.end("sD")
			return
		}
	}
	s.armTimer()
}
