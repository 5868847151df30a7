package proxy

import (
	"crypto/tls"
	"net/netip"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// The session is the config.SampleSource that fetches read (src, dst, the
// buffered request, the TLS state). Conditions are evaluated through
// s.env, which the session reuses so that an evaluation allocates nothing.
// It is made at the first evaluation: a session that meets no rule (the
// common case) does not carry its 128 bytes.

var _ config.SampleSource = (*session)(nil)

// Src is the client's address: the socket's until a PROXY header replaces
// it (tcp-request connection rules run before the header).
func (s *session) Src() netip.AddrPort { return s.src }

// Dst is the address the client connected to (or the PROXY header's),
// asked of the client socket on first use (see session.dst).
func (s *session) Dst() netip.AddrPort {
	if !s.dstKnown {
		s.dst, s.dstKnown = addrPort(s.cli.LocalAddr()), true
	}
	return s.dst
}

// Req is the request bytes buffered before the server connection, and
// whether no more will come: the buffer is full for content inspection
// (inspectLimit) or the client sent EOF.
func (s *session) Req() ([]byte, bool) {
	return s.pending, len(s.pending) >= s.inspectLimit() || s.req.shutr
}

// maxRewrite is HAProxy's default tune.maxrewrite: the part of a buffer
// kept free while analysers (content rules) work on it, at most half the
// buffer.
const maxRewrite = 1024

// inspectLimit is how many request bytes content rules may wait for:
// tune.bufsize less HAProxy's rewrite reserve (15360 with the default
// 16384, as haproxy 2.6 decides a "req.len" rule at 15360 bytes). Reaching
// it makes the data final.
func (s *session) inspectLimit() int {
	return s.p.bufsize - min(maxRewrite, s.p.bufsize/2)
}

// tlsStater is what the TLS layer's connection (core/engine/tlsconn.Conn,
// part tls) gives once its handshake is done. The client connection of a
// session on an "ssl" bind is one; on a raw bind it is not, and the TLS
// fetches see no TLS (ssl_fc false, ssl_fc_sni absent).
type tlsStater interface {
	State() (tls.ConnectionState, bool)
}

// TLS is the client-side TLS state, false on a raw bind or before the
// handshake completed. This is the one place fetches read it from.
func (s *session) TLS() (tls.ConnectionState, bool) {
	if s.tls != nil {
		return *s.tls, true
	}
	ts, ok := s.cli.(tlsStater)
	if !ok {
		return tls.ConnectionState{}, false
	}
	st, ok := ts.State()
	if !ok {
		return tls.ConnectionState{}, false
	}
	s.tls = &st
	return st, true
}

// eval evaluates c for the session in rule set ph.
func (s *session) eval(c *config.Cond, ph config.Phase, final bool) config.Result {
	if c == nil {
		return config.Pass
	}
	return c.Eval(s.evalEnv(ph, final))
}

// evalEnv is s.env set up for an evaluation in rule set ph.
func (s *session) evalEnv(ph config.Phase, final bool) *config.Env {
	if s.env == nil {
		s.env = &config.Env{}
	}
	s.env.S, s.env.Phase, s.env.Final = s, ph, final
	return s.env
}

// holds evaluates c on final data.
func (s *session) holds(c *config.Cond, ph config.Phase) bool {
	return s.eval(c, ph, true) == config.Pass
}
