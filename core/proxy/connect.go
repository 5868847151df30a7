package proxy

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// maxTurnAround is HAProxy's delay before retrying a connection that
// failed at once (refused): it avoids hammering a server that restarts.
const maxTurnAround = time.Second

// startStream runs once the connection is accepted (after a PROXY
// header): the session counts in its frontend, then the content rules run
// or the backend is chosen.
func (s *session) startStream() {
	s.fe.st.stot.Add(1)
	s.fe.st.scur.Add(1)
	s.feCounted = true
	if len(s.fe.cfg.ContentRules) > 0 {
		s.startInspect(false)
		return
	}
	s.startBackend()
}

// startBackend routes the session and asks its backend for a server,
// after the backend's content rules if it has any.
func (s *session) startBackend() {
	be := s.fe.route(s)
	if be == nil {
		s.end("PC") // no backend: HAProxy's <NOSRV>
		return
	}
	s.be = be
	be.st.stot.Add(1)
	be.st.scur.Add(1)
	s.beCounted = true
	if len(be.cfg.ContentRules) > 0 {
		s.startInspect(true)
		return
	}
	s.assignServer(s.stickMatch(), nil)
}

// assignServer takes a server slot (want: that server only; avoid: another
// one if possible) and connects, or waits in the queue.
func (s *session) assignServer(want, avoid *server) {
	srv, queued, err := s.be.assign(s, want, avoid)
	switch {
	case errors.Is(err, ErrNoServer):
		s.end("SC")
	case err != nil:
		s.end("sQ")
	case queued:
		s.phase = phQueue
		s.queued = s.p.clock.Now()
		s.armTimer()
	default:
		s.connect(srv)
	}
}

// dequeued runs on the loop when the queue hands this session a slot.
func (s *session) dequeued() {
	if s.phase != phQueue {
		return // ended meanwhile: end gave the slot back
	}
	srv := s.be.takeGranted(s)
	if srv == nil {
		return
	}
	s.connect(srv)
}

// connect dials srv for the session (slot already taken).
func (s *session) connect(srv *server) {
	s.srv, s.slot = srv, true
	s.phase = phConnect
	s.attempts++
	leg := &serverLeg{s: s}
	s.leg = leg
	c, err := s.p.eng.Dial(s.serverAddr(srv), leg, engine.DialOptions{
		Timeout: s.be.cfg.Timeouts.Connect,
		Near:    s.nearConn(),
	})
	if err != nil {
		s.connectFailed(err)
		return
	}
	s.srvConn = c
	s.armTimer()
}

// serverAddr is the address to dial for srv: its own, or with no port on
// the server line the client's destination port (which only then costs a
// getsockname on engines that learn it lazily).
func (s *session) serverAddr(srv *server) string {
	if srv.addr != "" {
		return srv.addr
	}
	return srv.cfg.Addr(s.Dst())
}

// connectFailed counts the error and retries (HAProxy's "retries", with
// "option redispatch" moving the last retry to another server).
func (s *session) connectFailed(err error) {
	srv := s.srv
	srv.st.econ.Add(1)
	s.be.st.econ.Add(1)
	s.srvConn, s.leg = nil, nil
	s.slot = false
	s.be.release(srv)
	if s.attempts > s.be.cfg.Retries {
		s.end("SC")
		return
	}
	srv.st.wretr.Add(1)
	s.be.st.wretr.Add(1)
	want, avoid := srv, (*server)(nil)
	if s.be.cfg.Redispatch && s.attempts == s.be.cfg.Retries {
		want, avoid = nil, srv
		srv.st.wredis.Add(1)
		s.be.st.wredis.Add(1)
	}
	delay := time.Duration(0)
	var ne net.Error
	if !(errors.As(err, &ne) && ne.Timeout()) {
		delay = maxTurnAround
		if c := s.be.cfg.Timeouts.Connect; c > 0 && c < delay {
			delay = c
		}
	}
	s.retry = s.cli.AfterFunc(delay, func() {
		s.retry = nil
		if s.phase == phConnect && s.srvConn == nil {
			s.assignServer(want, avoid)
		}
	})
}

// established: the server leg is up (and its TLS handshake done on an ssl
// server). Send the PROXY header if configured and not sent yet, then the
// bytes the client sent meanwhile, then relay.
func (s *session) established(c engine.Conn, headerSent bool) {
	s.srvConn = c
	s.phase = phData
	now := s.p.clock.Now()
	s.srvLast, s.connected = now, now
	s.srv.st.stot.Add(1)
	s.srv.st.scur.Add(1)
	s.srvCounted = true
	s.be.trackSession(s.srv, s)
	s.stickStore()
	if v := s.srv.cfg.SendProxy; v != 0 && !headerSent {
		if err := c.Write(s.proxyHeader(v)); err != nil {
			s.end("SC")
			return
		}
	}
	if len(s.pending) > 0 {
		if !s.writeCounted(&s.req, c, s.pending) {
			return
		}
		s.pending = nil
	}
	if s.req.shutr {
		s.shutr(&s.req)
	} else if !s.req.paused {
		// Early data may have filled the buffer and paused the client;
		// if writing it crossed the high-water mark, OnDrained resumes.
		s.cli.ResumeRead()
	}
	s.setupSplice()
	s.armTimer()
}

// proxyHeader builds the send-proxy(-v2) header: the client's original
// source and destination (from its PROXY header, else its socket).
func (s *session) proxyHeader(version int) []byte {
	src, dst := s.src, s.Dst()
	h := proxyproto.Header{Version: version, Command: proxyproto.CmdProxy}
	switch {
	case !src.IsValid() || !dst.IsValid():
		h.Command, h.Transport = proxyproto.CmdLocal, proxyproto.TransportUnspec
	case src.Addr().Is4() && dst.Addr().Is4():
		h.Transport = proxyproto.TCP4
	default:
		// Mixed families go as IPv6 with IPv4-mapped addresses, as a
		// dual-stack HAProxy listener does.
		h.Transport = proxyproto.TCP6
		src = netip.AddrPortFrom(netip.AddrFrom16(src.Addr().As16()), src.Port())
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	h.Source, h.Destination = src, dst
	if version == 2 && s.srv.cfg.SendProxySSL > 0 {
		h.TLVs = s.sslTLVs(s.srv.cfg.SendProxySSL == 2)
	}
	var b []byte
	var err error
	if version == 1 {
		b, err = h.AppendV1(nil)
	} else {
		b, err = h.AppendV2(nil)
	}
	if err != nil {
		// Cannot express the addresses: the spec's fallback.
		h = proxyproto.Header{Version: version, Command: proxyproto.CmdLocal}
		if version == 1 {
			b, _ = h.AppendV1(nil)
		} else {
			b, _ = h.AppendV2(nil)
		}
	}
	return b
}

// serverLeg is the handler of one server connection attempt. On an ssl
// server the socket's events go through the TLS layer (tls), which calls
// the plain* methods with plaintext (serverPlain in tls.go).
type serverLeg struct {
	s          *session
	open       bool
	tls        engine.Handler
	headerSent bool
}

func (l *serverLeg) current() bool { return l.s.leg == l && l.s.phase != phClosed }

func (l *serverLeg) OnOpen(c engine.Conn) {
	if !l.current() || l.s.phase != phConnect {
		_ = c.Close()
		return
	}
	s := l.s
	if s.srv.tlsCfg == nil {
		l.plainOpen(c)
		return
	}
	// The PROXY header goes in clear before the ClientHello (HAProxy's
	// order: send-proxy, then the SSL handshake).
	if v := s.srv.cfg.SendProxy; v != 0 {
		if err := c.Write(s.proxyHeader(v)); err != nil {
			s.end("SC")
			return
		}
		l.headerSent = true
	}
	l.tls = tlsconn.StartClient(c, serverPlain{l}, s.serverTLS(s.srv), tlsconn.Options{
		HandshakeTimeout: s.be.cfg.Timeouts.Connect,
		Limiter:          s.p.tlsLimiter,
		ReadBufferSize:   s.p.bufsize,
	})
}

func (l *serverLeg) OnData(c engine.Conn, in []byte) int {
	if l.tls != nil {
		return l.tls.OnData(c, in)
	}
	return l.plainData(c, in)
}

func (l *serverLeg) OnReadEOF(c engine.Conn) {
	if l.tls != nil {
		l.tls.OnReadEOF(c)
		return
	}
	l.plainReadEOF(c)
}

func (l *serverLeg) OnDrained(c engine.Conn) {
	if l.tls != nil {
		l.tls.OnDrained(c)
		return
	}
	l.plainDrained(c)
}

func (l *serverLeg) OnClose(c engine.Conn, err error) {
	if l.tls != nil {
		l.tls.OnClose(c, err)
		return
	}
	l.plainClose(c, err)
}

func (l *serverLeg) plainOpen(c engine.Conn) {
	if !l.current() || l.s.phase != phConnect {
		_ = c.Close()
		return
	}
	l.open = true
	l.s.established(c, l.headerSent)
}

func (l *serverLeg) plainData(c engine.Conn, in []byte) int {
	if !l.current() || l.s.phase != phData {
		return len(in)
	}
	return l.s.forward(&l.s.res, c, l.s.cli, in)
}

func (l *serverLeg) plainReadEOF(c engine.Conn) {
	if l.current() && l.s.phase == phData {
		l.s.shutr(&l.s.res)
	}
}

func (l *serverLeg) plainDrained(c engine.Conn) {
	if l.current() && l.s.phase == phData {
		l.s.drained(&l.s.req, l.s.cli)
	}
}

func (l *serverLeg) plainClose(c engine.Conn, err error) {
	if !l.current() {
		return
	}
	s := l.s
	if !l.open {
		if err == nil {
			err = errors.New("proxy: connection closed before established")
		}
		s.connectFailed(err)
		return
	}
	s.end("SD") // the server aborted during data
}
