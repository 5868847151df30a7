package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
	"github.com/netmodels/netmodels/core/proxy/tlshello"
)

// TLS in the proxy (spec/proxy.md, "TLS"): a bind with "ssl" runs a TLS
// handshake after the PROXY header and the tcp-request connection rules,
// then the session sees plaintext through a tlsconn.Conn; a server with
// "ssl" runs one after the send-proxy header. Both use core/engine/tlsconn
// (crypto/tls driven from the loop).

// bindTLSConfig builds the crypto/tls configuration of a bind line.
func bindTLSConfig(b *config.BindSSL) *tls.Config {
	cfg := &tls.Config{
		// crypto/tls picks, in order, the first certificate that suits the
		// client's SNI and algorithms, else the first one: HAProxy's
		// default certificate is its first crt too.
		Certificates: b.Certs,
		NextProtos:   b.ALPN,
		MinVersion:   b.MinVersion,
		MaxVersion:   b.MaxVersion,
		CipherSuites: b.CipherSuites,
		ClientCAs:    b.ClientCAs,
		// Tickets stay on (crypto/tls's default) as with HAProxy, unless
		// "no-tls-tickets" (on the line or in ssl-default-bind-options).
		SessionTicketsDisabled: b.NoTickets,
	}
	switch b.Verify {
	case config.VerifyOptional:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case config.VerifyRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// serverTLSConfig builds a server line's client-side configuration. The
// server name is set per session (sni); verification is done here, as
// HAProxy does: the chain against ca-file, and the name only when an SNI
// is sent.
func serverTLSConfig(s *config.ServerSSL) *tls.Config {
	cfg := &tls.Config{
		NextProtos:   s.ALPN,
		MinVersion:   s.MinVersion,
		MaxVersion:   s.MaxVersion,
		CipherSuites: s.CipherSuites,
		// crypto/tls would insist on a server name to verify; the
		// verification below does what HAProxy's "verify required" does.
		InsecureSkipVerify: true,
	}
	if s.Cert != nil {
		cfg.Certificates = []tls.Certificate{*s.Cert}
	}
	if s.Verify == config.VerifyRequired {
		roots := s.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("proxy: server sent no certificate")
			}
			opts := x509.VerifyOptions{
				Roots:         roots,
				DNSName:       cs.ServerName,
				Intermediates: x509.NewCertPool(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg
}

// clientTLS is the plaintext side of a client connection on a TLS bind:
// tlsconn calls it, and it calls the session's client-leg logic.
type clientTLS struct{ s *session }

func (h clientTLS) OnOpen(c engine.Conn)                { h.s.tlsEstablished(c) }
func (h clientTLS) OnData(c engine.Conn, in []byte) int { return h.s.clientData(c, in) }
func (h clientTLS) OnReadEOF(c engine.Conn)             { h.s.clientReadEOF() }
func (h clientTLS) OnDrained(c engine.Conn)             { h.s.clientDrained() }
func (h clientTLS) OnClose(c engine.Conn, err error)    { h.s.clientClosed(err) }

// startClientTLS puts TLS on the client connection (step 3 of the
// connection's handlers). The handshake is bounded by "timeout client"
// (the session timer, phase phTLS), as in HAProxy.
func (s *session) startClientTLS() {
	s.phase = phTLS
	s.cliTLS = tlsconn.StartServer(s.cli, clientTLS{s}, s.fe.tlsCfg[s.bind], tlsconn.Options{
		Limiter:        s.p.tlsLimiter,
		ReadBufferSize: s.p.bufsize,
	})
	s.armTimer()
}

// tlsEstablished: the client's handshake succeeded.
func (s *session) tlsEstablished(c engine.Conn) {
	if s.phase != phTLS {
		return
	}
	s.cli = c // a tlsconn.Conn: TLS() (sample.go) reads its state from now on
	s.cliLast = s.p.clock.Now()
	s.clientReady()
}

// nearConn is the client's engine connection, for DialOptions.Near: on a
// TLS bind s.cli is the tlsconn.Conn, which an engine does not know (it
// would ignore Near and could put the server leg on another loop, so the
// two legs' callbacks would run at the same time).
func (s *session) nearConn() engine.Conn {
	if tc, ok := s.cli.(*tlsconn.Conn); ok {
		return tc.Raw()
	}
	return s.cli
}

// SSLFrontSNI is ssl_fc_sni: the server name the client asked our TLS bind
// for ("" if none or not TLS).
func (s *session) SSLFrontSNI() string {
	if st, ok := s.TLS(); ok {
		return st.ServerName
	}
	return ""
}

// tlsHandshakeFailed logs a failed client handshake as HAProxy does.
func (s *session) tlsHandshakeFailed(err error, term string) {
	s.fe.st.ereq.Add(1)
	if s.fe.cfg.Log || s.p.cfg.Global.Log {
		s.p.logf("%s [%s] %s/%s: SSL handshake failure (%v)", s.src, s.start.Format(logTimeFormat), s.fe.cfg.Name, s.bindName(), err)
	}
	s.end(term)
}

func (s *session) bindName() string {
	if s.bind < len(s.fe.cfg.Binds) {
		return s.fe.cfg.Binds[s.bind].Addr
	}
	return "?"
}

// serverPlain is the plaintext side of a TLS server leg.
type serverPlain struct{ l *serverLeg }

func (h serverPlain) OnOpen(c engine.Conn)                { h.l.plainOpen(c) }
func (h serverPlain) OnData(c engine.Conn, in []byte) int { return h.l.plainData(c, in) }
func (h serverPlain) OnReadEOF(c engine.Conn)             { h.l.plainReadEOF(c) }
func (h serverPlain) OnDrained(c engine.Conn)             { h.l.plainDrained(c) }
func (h serverPlain) OnClose(c engine.Conn, err error)    { h.l.plainClose(c, err) }

// helloSNI is req.ssl_sni for a server's "sni": on a TLS bind the name
// the client's handshake carried, else the one in the ClientHello among
// the request bytes buffered so far (TLS passed through); "" if none.
func (s *session) helloSNI() string {
	if _, ok := s.TLS(); ok {
		return s.SSLFrontSNI()
	}
	if h, err := tlshello.Parse(s.pending); err == nil {
		return h.ServerName
	}
	return ""
}

// serverTLS returns the tls.Config for this session's connection to srv:
// the server's, with the session's SNI.
func (s *session) serverTLS(srv *server) *tls.Config {
	cfg := srv.tlsCfg
	if name := srv.cfg.SSL.ServerName(s.SSLFrontSNI(), s.helloSNI()); name != "" {
		cfg = cfg.Clone()
		cfg.ServerName = name
	}
	return cfg
}

// sslTLVs are the PROXY v2 SSL TLVs (send-proxy-v2-ssl[-cn]) describing the
// client's TLS connection, as HAProxy 2.6 builds them: client flags,
// verify result (0: verified), the protocol version, and with cn the
// client certificate's common name.
func (s *session) sslTLVs(withCN bool) []proxyproto.TLV {
	v := make([]byte, 5, 64)
	if st, ok := s.TLS(); ok {
		v[0] |= proxyproto.SSLClientSSL
		v = appendSub(v, proxyproto.SubtypeSSLVersion, tlsVersionName(st.Version))
		if len(st.PeerCertificates) > 0 {
			v[0] |= proxyproto.SSLClientCertConn | proxyproto.SSLClientCertSess
			if len(st.VerifiedChains) == 0 {
				// X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: a
				// certificate that was not verified.
				binary.BigEndian.PutUint32(v[1:5], 20)
			}
			if withCN {
				if cn := st.PeerCertificates[0].Subject.CommonName; cn != "" {
					v = appendSub(v, proxyproto.SubtypeSSLCN, cn)
				}
			}
		}
	}
	return []proxyproto.TLV{{Type: proxyproto.TypeSSL, Value: v}}
}

func appendSub(v []byte, typ uint8, val string) []byte {
	v = append(v, typ, byte(len(val)>>8), byte(len(val)))
	return append(v, val...)
}

// tlsVersionName is OpenSSL's SSL_get_version text.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("unknown(0x%04x)", v)
}

// checkTLS is the raw handler of a check-ssl health-check connection: the
// PROXY header (check-send-proxy) in clear, then the TLS handshake, then
// the check leg sees plaintext (its OnOpen after the handshake: a failed
// handshake is a failed connect).
type checkTLS struct {
	leg  *checkLeg
	cfg  *tls.Config
	opts tlsconn.Options
	h    engine.Handler
}

func (w *checkTLS) OnOpen(c engine.Conn) {
	r := w.leg.r
	r.locked(func() {
		if !w.leg.current() {
			return
		}
		w.leg.handshaking = true
		r.runner.HandshakeStarted()
		if v := r.sendProxy(w.leg.rule); v != 0 {
			if c.Write(checkProxyHeader(v, c)) == nil {
				w.leg.headerSent = true
			}
		}
	})
	w.h = tlsconn.StartClient(c, w.leg, w.cfg, w.opts)
}

func (w *checkTLS) OnData(c engine.Conn, in []byte) int {
	if w.h == nil {
		return len(in)
	}
	return w.h.OnData(c, in)
}

func (w *checkTLS) OnReadEOF(c engine.Conn) {
	if w.h != nil {
		w.h.OnReadEOF(c)
	}
}

func (w *checkTLS) OnDrained(c engine.Conn) {
	if w.h != nil {
		w.h.OnDrained(c)
	}
}

func (w *checkTLS) OnClose(c engine.Conn, err error) {
	if w.h == nil {
		w.leg.OnClose(c, err) // the dial failed
		return
	}
	w.h.OnClose(c, err)
}

// tlsConfig is the TLS configuration of a check connection, nil for a
// plain one: "tcp-check connect ssl [sni S] [alpn L]", or a default
// connect of a server with check-ssl (or ssl without port/addr).
func (r *checkRun) tlsConfig(rule *tcpcheck.Connect) *tls.Config {
	srv := r.c.srv
	cfg := srv.checkTLS
	if !rule.SSL && !(rule.Default && cfg != nil) {
		return nil
	}
	if cfg == nil {
		cfg = serverTLSConfig(&srv.cfg.SSL)
	}
	if rule.SNI != "" || rule.ALPN != "" {
		cfg = cfg.Clone()
		if rule.SNI != "" {
			cfg.ServerName = rule.SNI
		}
		if rule.ALPN != "" {
			cfg.NextProtos = strings.Split(rule.ALPN, ",")
		}
	}
	return cfg
}
