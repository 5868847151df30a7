package config

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// Global TLS keywords.

func (p *parser) globalCABase(w []string) error {
	if len(w) != 2 {
		return p.errf("global statement '%s' expects a directory path as an argument.", w[0])
	}
	p.cfg.Global.CABase = w[1]
	return nil
}

func (p *parser) globalCrtBase(w []string) error {
	if len(w) != 2 {
		return p.errf("global statement '%s' expects a directory path as an argument.", w[0])
	}
	p.cfg.Global.CrtBase = w[1]
	return nil
}

func (p *parser) globalSSLServerVerify(w []string) error {
	if len(w) == 2 {
		switch w[1] {
		case "none":
			p.cfg.Global.SSLServerVerify = VerifyNone
			return nil
		case "required":
			p.cfg.Global.SSLServerVerify = VerifyRequired
			return nil
		}
	}
	return p.errf("'ssl-server-verify' expects 'none' or 'required' as argument.")
}

// globalDefaultBind takes "ssl-default-bind-options WORD...",
// "ssl-default-bind-ciphers LIST" and "ssl-default-bind-ciphersuites LIST"
// as bind words for every ssl bind. They are checked here, on a scratch
// bind, so a bad word is reported at the global line.
func (p *parser) globalDefaultBind(w []string) error {
	if len(w) < 2 {
		return p.errf("global statement '%s' expects an argument.", w[0])
	}
	words := w[1:]
	switch w[0] {
	case "ssl-default-bind-ciphers":
		words = []string{"ciphers", w[1]}
	case "ssl-default-bind-ciphersuites":
		words = []string{"ciphersuites", w[1]}
	}
	var scratch Bind
	if err := applyLineOpts(p, bindOpts, &scratch, w[0], words); err != nil {
		return err
	}
	p.cfg.Global.DefaultBindSSL = append(p.cfg.Global.DefaultBindSSL, words...)
	return nil
}

// globalDefaultServer takes "ssl-default-server-options WORD...",
// "ssl-default-server-ciphers LIST" and "ssl-default-server-ciphersuites
// LIST": server words applied to a scratch server whose TLS versions and
// ciphers finishServerSSL gives every ssl server that has none of its own
// (HAProxy applies them the same way, setting by setting).
func (p *parser) globalDefaultServer(w []string) error {
	if len(w) < 2 {
		return p.errf("global statement '%s' expects an argument.", w[0])
	}
	words := w[1:]
	switch w[0] {
	case "ssl-default-server-ciphers":
		words = []string{"ciphers", w[1]}
	case "ssl-default-server-ciphersuites":
		words = []string{"ciphersuites", w[1]}
	}
	scratch := Server{SSL: p.cfg.Global.defaultServerSSL}
	if err := applyLineOpts(p, serverOpts, &scratch, w[0], words); err != nil {
		return err
	}
	p.cfg.Global.defaultServerSSL = scratch.SSL
	return nil
}

// versionOpt sets a version bound through field.
func versionOpt[T any](field func(T) *uint16) lineOpt[T] {
	return lineOpt[T]{arg: true, set: func(t T, _, a string) error {
		v, err := parseTLSVersion(a)
		if err != nil {
			return err
		}
		*field(t) = v
		return nil
	}}
}

// forceOpt pins both bounds (force-tlsv12, force-tlsv13).
func forceOpt[T any](v uint16, min, max func(T) *uint16) lineOpt[T] {
	return flagOpt(func(t T) { *min(t), *max(t) = v, v })
}

// floorOpt disables versions below v (no-tlsv10 → at least 1.1, ...).
func floorOpt[T any](v uint16, min func(T) *uint16) lineOpt[T] {
	return flagOpt(func(t T) { *min(t) = max(*min(t), v) })
}

func alpnOpt[T any](field func(T) *[]string) lineOpt[T] {
	return lineOpt[T]{arg: true, set: func(t T, _, a string) error {
		l, err := parseALPN(a)
		if err != nil {
			return err
		}
		*field(t) = l
		return nil
	}}
}

func ciphersOpt[T any](set func(t T, suites []uint16, text string)) lineOpt[T] {
	return lineOpt[T]{arg: true, set: func(t T, _, a string) error {
		suites, _, err := parseCiphers(a)
		if err != nil {
			return fmt.Errorf("unable to set SSL cipher list to '%s' (%v).", a, err)
		}
		set(t, suites, a)
		return nil
	}}
}

// ciphersuitesOpt checks a "ciphersuites" list and stores its text
// (field nil: not stored). crypto/tls cannot be told which TLS 1.3 suites
// to offer, so a list that does not name exactly the ones it offers gets
// one warning, at the line that wrote it, saying what is not honoured.
func ciphersuitesOpt[T any](field func(T) *string) lineOpt[T] {
	return lineOpt[T]{arg: true, set: func(t T, _, a string) error {
		if err := checkCipherSuites13(a); err != nil {
			return fmt.Errorf("unable to set TLS 1.3 cipher suites to '%s' (%v).", a, err)
		}
		if field != nil {
			*field(t) = a
		}
		if gap := cipherSuites13Gap(a); gap != "" {
			return lineWarning(fmt.Sprintf("ciphersuites '%s' not honoured: crypto/tls cannot choose TLS 1.3 suites and offers %s (%s)",
				a, strings.Join(goTLS13Suites, ":"), gap))
		}
		return nil
	}}
}

// lineWarning is returned by a lineOpt's set for a word that is applied
// (or accepted) but deserves a warning: applyLineOpts reports it with the
// line's file:line and goes on.
type lineWarning string

func (w lineWarning) Error() string { return string(w) }

var (
	bindMin = func(b *Bind) *uint16 { return &b.SSL.MinVersion }
	bindMax = func(b *Bind) *uint16 { return &b.SSL.MaxVersion }
	srvMin  = func(s *Server) *uint16 { return &s.SSL.MinVersion }
	srvMax  = func(s *Server) *uint16 { return &s.SSL.MaxVersion }
)

// bindSSLOpts are the bind line's TLS keywords.
var bindSSLOpts = mergeOpts(
	map[string]lineOpt[*Bind]{
		"ssl":            flagOpt(func(b *Bind) { b.SSL.Enabled = true }),
		"no-tls-tickets": flagOpt(func(b *Bind) { b.SSL.NoTickets = true }),
		"crt": {arg: true, set: func(b *Bind, _, a string) error {
			b.crts = append(b.crts, a)
			return nil
		}},
		"ca-file": {arg: true, set: func(b *Bind, _, a string) error {
			b.SSL.CAFile = a
			return nil
		}},
		"verify": {arg: true, set: func(b *Bind, _, a string) error {
			switch a {
			case "none":
				b.SSL.Verify = VerifyNone
			case "optional":
				b.SSL.Verify = VerifyOptional
			case "required":
				b.SSL.Verify = VerifyRequired
			default:
				return fmt.Errorf("'verify' : unknown verify method '%s', only 'none', 'optional', and 'required' are supported", a)
			}
			return nil
		}},
		"alpn":         alpnOpt(func(b *Bind) *[]string { return &b.SSL.ALPN }),
		"ssl-min-ver":  versionOpt(bindMin),
		"ssl-max-ver":  versionOpt(bindMax),
		"force-tlsv12": forceOpt(tls.VersionTLS12, bindMin, bindMax),
		"force-tlsv13": forceOpt(tls.VersionTLS13, bindMin, bindMax),
		"no-tlsv10":    floorOpt(tls.VersionTLS11, bindMin),
		"no-tlsv11":    floorOpt(tls.VersionTLS12, bindMin),
		"no-tlsv12":    floorOpt(tls.VersionTLS13, bindMin),
		"ciphers":      ciphersOpt(func(b *Bind, l []uint16, t string) { b.SSL.CipherSuites, b.SSL.Ciphers = l, t }),
		"ciphersuites": ciphersuitesOpt(func(b *Bind) *string { return &b.SSL.CipherSuites13 }),
	},
	// crypto/tls has no SSLv3 and no knob for these: nothing to change.
	opts(lineOpt[*Bind]{ignore: true}, "no-sslv3", "prefer-client-ciphers", "no-ca-names"),
	opts(lineOpt[*Bind]{arg: true, ignore: true}, "npn"),
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (TLS) is not supported"},
		"crt-list", "strict-sni", "curves", "ecdhe", "ca-ignore-err", "crt-ignore-err", "crl-file",
		"ca-sign-file", "ca-sign-pass", "generate-certificates", "tls-ticket-keys", "ca-verify-file",
		"no-tlsv13", "ssl-reuse", "sigalgs", "client-sigalgs", "ocsp-update"),
)

// finishBindSSL loads the certificates and CA file of a bind line and
// checks what HAProxy checks once its proxy is complete. addr is the
// line's address as written, for messages.
func (p *parser) finishBindSSL(b *Bind, addr string) error {
	for _, c := range b.crts {
		path := withBase(p.cfg.Global.CrtBase, c)
		certs, err := loadCrt(path)
		if err != nil {
			return p.errf("bind: %v", err)
		}
		b.SSL.Certs = append(b.SSL.Certs, certs...)
		b.SSL.CertFiles = append(b.SSL.CertFiles, path)
	}
	b.crts = nil
	if b.SSL.CAFile != "" {
		path := withBase(p.cfg.Global.CABase, b.SSL.CAFile)
		pool, err := loadCAFile(path)
		if err != nil {
			return p.errf("bind: %v", err)
		}
		b.SSL.CAFile, b.SSL.ClientCAs = path, pool
	}
	if !b.SSL.Enabled {
		return nil
	}
	name := p.sec.fe.Name
	at := fmt.Sprintf("at [%s:%d]", p.file, p.line)
	if len(b.SSL.Certs) == 0 {
		return p.errf("Proxy '%s': no SSL certificate specified for bind '%s' %s (use 'crt').", name, addr, at)
	}
	if (b.SSL.Verify == VerifyOptional || b.SSL.Verify == VerifyRequired) && b.SSL.ClientCAs == nil {
		return p.errf("Proxy '%s': verify is enabled but no CA file specified for bind '%s' %s.", name, addr, at)
	}
	if b.SSL.MinVersion != 0 && b.SSL.MaxVersion != 0 && b.SSL.MinVersion > b.SSL.MaxVersion {
		return p.errf("Proxy '%s': all SSL/TLS versions are disabled for bind '%s' %s.", name, addr, at)
	}
	if b.SSL.Ciphers != "" {
		if _, interpreted, _ := parseCiphers(b.SSL.Ciphers); !interpreted {
			p.warnf("bind %s: ciphers '%s': OpenSSL cipher classes are not interpreted; crypto/tls's choice of suites is used for what they name", addr, b.SSL.Ciphers)
		}
	}
	return nil
}

// serverSSLOpts are the server line's TLS keywords.
var serverSSLOpts = mergeOpts(
	map[string]lineOpt[*Server]{
		"ssl":          flagOpt(func(s *Server) { s.SSL.Enabled = true }),
		"no-ssl":       flagOpt(func(s *Server) { s.SSL.Enabled = false }),
		"check-ssl":    flagOpt(func(s *Server) { s.CheckSSL = true }),
		"no-check-ssl": flagOpt(func(s *Server) { s.CheckSSL = false }),
		// The SNI and ALPN of TLS health checks (a plain string and a
		// list, as in HAProxy).
		"check-sni":  {arg: true, set: func(s *Server, _, a string) error { s.CheckSNI = a; return nil }},
		"check-alpn": alpnOpt(func(s *Server) *[]string { return &s.CheckALPN }),
		"send-proxy-v2-ssl": flagOpt(func(s *Server) {
			s.SendProxy, s.SendProxySSL = 2, 1
		}),
		"send-proxy-v2-ssl-cn": flagOpt(func(s *Server) {
			s.SendProxy, s.SendProxySSL = 2, 2
		}),
		"verify": {arg: true, set: func(s *Server, _, a string) error {
			switch a {
			case "none":
				s.SSL.Verify = VerifyNone
			case "required":
				s.SSL.Verify = VerifyRequired
			default:
				return fmt.Errorf("'verify' : unknown verify method '%s', only 'none' and 'required' are supported.", a)
			}
			return nil
		}},
		"ca-file": {arg: true, set: func(s *Server, _, a string) error {
			s.SSL.CAFile = a
			return nil
		}},
		"crt": {arg: true, set: func(s *Server, _, a string) error {
			// Loaded in finishServerSSL (crt-base applies).
			s.SSL.certFile = a
			return nil
		}},
		"sni": {arg: true, set: func(s *Server, _, a string) error {
			e, err := parseSNIExpr(a)
			if err != nil {
				return err
			}
			s.SSL.SNI = e
			return nil
		}},
		"alpn":         alpnOpt(func(s *Server) *[]string { return &s.SSL.ALPN }),
		"ssl-min-ver":  versionOpt(srvMin),
		"ssl-max-ver":  versionOpt(srvMax),
		"force-tlsv12": forceOpt(tls.VersionTLS12, srvMin, srvMax),
		"force-tlsv13": forceOpt(tls.VersionTLS13, srvMin, srvMax),
		"no-tlsv10":    floorOpt(tls.VersionTLS11, srvMin),
		"no-tlsv11":    floorOpt(tls.VersionTLS12, srvMin),
		"no-tlsv12":    floorOpt(tls.VersionTLS13, srvMin),
		"ciphers":      ciphersOpt(func(s *Server, l []uint16, _ string) { s.SSL.CipherSuites = l }),
		"ciphersuites": ciphersuitesOpt[*Server](nil),
	},
	opts(lineOpt[*Server]{ignore: true}, "no-sslv3", "no-ssl-reuse", "no-tls-tickets", "ssl-reuse", "tls-tickets"),
	opts(lineOpt[*Server]{arg: true, ignore: true}, "npn"),
	opts(lineOpt[*Server]{fail: "%[1]s: '%[2]s' (TLS) is not supported"},
		"crl-file", "verifyhost", "curves", "sigalgs", "client-sigalgs",
		"no-tlsv13", "allow-0rtt", "ocsp-update"),
)

// finishServerSSL loads a server line's TLS files and checks its verify
// setting (HAProxy refuses "ssl" with verification on and no CA).
func (p *parser) finishServerSSL(s *Server, backend string) error {
	who := fmt.Sprintf("'server %s/%s'", backend, s.Name)
	if s.SSL.certFile != "" {
		path := withBase(p.cfg.Global.CrtBase, s.SSL.certFile)
		certs, err := loadCrt(path)
		if err != nil {
			return p.errf("%s : %v", who, err)
		}
		s.SSL.Cert = &certs[0]
		s.SSL.certFile = ""
	}
	if s.SSL.CAFile != "" && s.SSL.RootCAs == nil {
		path := withBase(p.cfg.Global.CABase, s.SSL.CAFile)
		pool, err := loadCAFile(path)
		if err != nil {
			return p.errf("%s : %v", who, err)
		}
		s.SSL.CAFile, s.SSL.RootCAs = path, pool
	}
	if !s.SSL.Enabled && !s.CheckSSL {
		return nil
	}
	// The global ssl-default-server-* settings, where the line (or its
	// default-server) set none.
	d := p.cfg.Global.defaultServerSSL
	if s.SSL.MinVersion == 0 {
		s.SSL.MinVersion = d.MinVersion
	}
	if s.SSL.MaxVersion == 0 {
		s.SSL.MaxVersion = d.MaxVersion
	}
	if s.SSL.CipherSuites == nil {
		s.SSL.CipherSuites = d.CipherSuites
	}
	if s.SSL.Verify == VerifyDefault {
		s.SSL.Verify = p.cfg.Global.SSLServerVerify
		if s.SSL.Verify == VerifyDefault {
			s.SSL.Verify = VerifyRequired
		}
	}
	if s.SSL.Verify == VerifyRequired && s.SSL.RootCAs == nil {
		return p.errf("%s : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.", who)
	}
	if s.SSL.MinVersion != 0 && s.SSL.MaxVersion != 0 && s.SSL.MinVersion > s.SSL.MaxVersion {
		return p.errf("%s : all SSL/TLS versions are disabled.", who)
	}
	return nil
}

// ServerName is the SNI for a session: sniFront is the name the client
// sent to a TLS bind (ssl_fc_sni), sniHello the one in its ClientHello
// (req.ssl_sni); "" sends none.
func (s *ServerSSL) ServerName(sniFront, sniHello string) string {
	if s.SNI == nil {
		return ""
	}
	switch s.SNI.Kind {
	case SNIFrontend:
		return sniFront
	case SNIClientHello:
		return sniHello
	}
	return s.SNI.Value
}
