package config

import (
	"fmt"
	"time"
)

// lineOpt is one keyword after the address on a server, default-server or
// bind line; like keyword, exactly one of set, warn, fail or ignore.
type lineOpt[T any] struct {
	// arg: the keyword takes the next word as its argument.
	arg bool
	// set applies it; its error is prefixed with the line's name
	// ("server 's': ").
	set func(t T, kw, arg string) error
	// warn and fail: %[1]s the line's name, '%[2]s' the keyword.
	warn, fail string
	ignore     bool
}

// applyLineOpts applies words (the keywords after the address) to t; who
// names the line in messages.
func applyLineOpts[T any](p *parser, table map[string]lineOpt[T], t T, who string, w []string) error {
	for i := 0; i < len(w); i++ {
		kw := w[i]
		o, ok := table[kw]
		if !ok {
			return p.errf("%s: unknown keyword %q", who, kw)
		}
		arg := ""
		if o.arg {
			if i+1 >= len(w) {
				return p.errf("%s: '%s' expects an argument", who, kw)
			}
			i++
			arg = w[i]
		}
		switch {
		case o.fail != "":
			return p.errf(o.fail, who, kw)
		case o.warn != "":
			p.warnf(o.warn, who, kw)
		case o.set != nil:
			if err := o.set(t, kw, arg); err != nil {
				if w, ok := err.(lineWarning); ok {
					p.warnf("%s: %s", who, w)
					continue
				}
				return p.errf("%s: %v", who, err)
			}
		}
	}
	return nil
}

func opts[T any](o lineOpt[T], names ...string) map[string]lineOpt[T] {
	m := make(map[string]lineOpt[T], len(names))
	for _, n := range names {
		m[n] = o
	}
	return m
}

func mergeOpts[T any](ms ...map[string]lineOpt[T]) map[string]lineOpt[T] {
	all := map[string]lineOpt[T]{}
	for _, m := range ms {
		for n, o := range m {
			if _, dup := all[n]; dup {
				panic("config: line keyword " + n + " listed twice")
			}
			all[n] = o
		}
	}
	return all
}

func flagOpt[T any](set func(t T)) lineOpt[T] {
	return lineOpt[T]{set: func(t T, _, _ string) error { set(t); return nil }}
}

// serverOpts are the server and default-server keywords.
var serverOpts = mergeOpts(
	map[string]lineOpt[*Server]{
		"check":            flagOpt(func(s *Server) { s.Check = true }),
		"no-check":         flagOpt(func(s *Server) { s.Check = false }),
		"send-proxy":       flagOpt(func(s *Server) { s.SendProxy = 1 }),
		"send-proxy-v2":    flagOpt(func(s *Server) { s.SendProxy = 2 }),
		"no-send-proxy":    flagOpt(func(s *Server) { s.SendProxy = 0 }),
		"no-send-proxy-v2": flagOpt(func(s *Server) { s.SendProxy = 0 }),
		"backup":           flagOpt(func(s *Server) { s.Backup = true }),
		"no-backup":        flagOpt(func(s *Server) { s.Backup = false }),
		"disabled":         flagOpt(func(s *Server) { s.Disabled = true }),
		"enabled":          flagOpt(func(s *Server) { s.Disabled = false }),
		"inter":            intervalOpt(func(s *Server) *time.Duration { return &s.Inter }),
		"fastinter":        intervalOpt(func(s *Server) *time.Duration { return &s.FastInter }),
		"downinter":        intervalOpt(func(s *Server) *time.Duration { return &s.DownInter }),
		"rise":             countOpt(1, 1<<30, func(s *Server) *int { return &s.Rise }),
		"fall":             countOpt(1, 1<<30, func(s *Server) *int { return &s.Fall }),
		"weight":           countOpt(0, 256, func(s *Server) *int { return &s.Weight }),
		"maxconn":          countOpt(0, 1<<30, func(s *Server) *int { return &s.MaxConn }),
		"maxqueue":         countOpt(0, 1<<30, func(s *Server) *int { return &s.MaxQueue }),
		"port": {arg: true, set: func(s *Server, _, a string) error {
			n, err := parsePort(a)
			if err != nil || n == 0 {
				return fmt.Errorf("port: invalid port '%s'", a)
			}
			s.CheckPort = n
			return nil
		}},
		"addr": {arg: true, set: func(s *Server, _, a string) error {
			if err := checkHost(a); err != nil {
				return fmt.Errorf("addr: %v", err)
			}
			s.CheckAddr = a
			return nil
		}},
		"check-send-proxy": flagOpt(func(s *Server) { s.CheckSendProxy = true }),
		"id": {arg: true, set: func(s *Server, kw, a string) error {
			n, err := parseInt(a, 1<<30)
			if err != nil || n < 1 {
				return fmt.Errorf("'id' : custom id has to be > 0")
			}
			s.ID = n
			return nil
		}},
		"on-marked-down": {arg: true, set: func(s *Server, kw, a string) error {
			if a != "shutdown-sessions" {
				return fmt.Errorf("'on-marked-down' expects 'shutdown-sessions' but got '%s'", a)
			}
			s.ShutdownOnDown = true
			return nil
		}},
		"on-marked-up": {arg: true, set: func(s *Server, kw, a string) error {
			if a != "shutdown-backup-sessions" {
				return fmt.Errorf("'on-marked-up' expects 'shutdown-backup-sessions' but got '%s'", a)
			}
			s.ShutdownBackupOnUp = true
			return nil
		}},
	},
	// Accepted and ignored: none changes a TCP relay here.
	opts(lineOpt[*Server]{arg: true, ignore: true}, "cookie", "init-addr", "resolve-prefer",
		"error-limit", "on-error", "pool-max-conn", "pool-purge-delay",
		"max-reuse", "agent-inter", "tcp-ut", "log-proto", "namespace", "redir", "resolvers", "resolve-opts"),
	// Accepted (HAProxy 2.6 does) but they would change the server's
	// behaviour: a warning says what happens instead.
	map[string]lineOpt[*Server]{
		"slowstart":      {arg: true, warn: "%[1]s: '%[2]s' is not supported and is ignored: the server takes its full weight at once"},
		"minconn":        {arg: true, warn: "%[1]s: '%[2]s' is not supported and is ignored: 'maxconn' applies as is"},
		"observe":        {arg: true, warn: "%[1]s: '%[2]s' is not supported and is ignored: only health checks change the server's state"},
		"track":          {arg: true, warn: "%[1]s: '%[2]s' is not supported and is ignored: the server's own check (or none) decides its state"},
		"tfo":            {warn: "%[1]s: '%[2]s' (TCP Fast Open to the server) is not supported and is ignored"},
		"no-tfo":         {ignore: true},
		"non-stick":      {warn: "%[1]s: '%[2]s' is not supported and is ignored"},
		"no-agent-check": {ignore: true},
	},
	serverSSLOpts,
	opts(lineOpt[*Server]{fail: "%[1]s: '%[2]s' (choosing the source address of server connections) is not supported"}, "source", "usesrc"),
	opts(lineOpt[*Server]{fail: "%[1]s: '%[2]s' (PROXY v2 TLVs) is not supported"}, "proxy-v2-options"),
	opts(lineOpt[*Server]{fail: "%[1]s: '%[2]s' (connecting through a SOCKS4 proxy) is not supported"}, "socks4"),
	opts(lineOpt[*Server]{fail: "%[1]s: '%[2]s' (agent checks) is not supported"}, "agent-check", "agent-port", "agent-send", "agent-addr"),
)

// intervalOpt is a check interval: a time greater than 0.
func intervalOpt(field func(*Server) *time.Duration) lineOpt[*Server] {
	return lineOpt[*Server]{arg: true, set: func(s *Server, kw, a string) error {
		d, err := parseTime(a)
		if err != nil {
			return fmt.Errorf("%s: %v", kw, err)
		}
		if d <= 0 {
			return fmt.Errorf("%s must be greater than 0", kw)
		}
		*field(s) = d
		return nil
	}}
}

// countOpt is an integer from min (0 or 1) to max.
func countOpt(min, max int, field func(*Server) *int) lineOpt[*Server] {
	return lineOpt[*Server]{arg: true, set: func(s *Server, kw, a string) error {
		n, err := parseInt(a, max)
		if err != nil {
			return fmt.Errorf("%s: %v", kw, err)
		}
		if n < min {
			return fmt.Errorf("%s must be at least %d", kw, min)
		}
		*field(s) = n
		return nil
	}}
}

func (p *parser) parseServerLine(w []string) error {
	s := p.sec
	if len(w) < 3 {
		return p.errf("'server' expects a name and an address")
	}
	for _, o := range s.be.Servers {
		if o.Name == w[1] {
			return p.errf("'server %s/%s': duplicate name in backend '%s' (first at line %d)", s.be.Name, w[1], s.be.Name, o.Where.Line)
		}
	}
	host, port, err := parseServerAddr(w[2])
	if err != nil {
		return p.errf("'server %s/%s': %v", s.be.Name, w[1], err)
	}
	srv := p.def.defaultServer
	if s.defaultServer != nil {
		srv = *s.defaultServer
	}
	srv.Name, srv.Host, srv.Port, srv.Where = w[1], host, port, p.where()
	if err := p.serverOptions(&srv, w[3:], false); err != nil {
		return err
	}
	if err := p.finishServerSSL(&srv, s.be.Name); err != nil {
		return err
	}
	s.be.Servers = append(s.be.Servers, &srv)
	return nil
}

// serverOptions applies server (or default-server) keywords.
func (p *parser) serverOptions(srv *Server, w []string, isDefault bool) error {
	who := "default-server"
	if !isDefault {
		// HAProxy's name for the line: 'server backend/name'.
		who = fmt.Sprintf("'server %s/%s'", p.sec.be.Name, srv.Name)
	} else {
		for _, kw := range w {
			if kw == "id" {
				return p.errf("default-server: 'id' is not supported in default-server sections")
			}
		}
	}
	return applyLineOpts(p, serverOpts, srv, who, w)
}

// bindOpts are the bind line's keywords.
var bindOpts = mergeOpts(
	map[string]lineOpt[*Bind]{
		"accept-proxy": flagOpt(func(b *Bind) { b.AcceptProxy = true }),
	},
	opts(lineOpt[*Bind]{ignore: true}, "v4v6", "v6only", "defer-accept", "tfo", "transparent-no", "allow-0rtt"),
	opts(lineOpt[*Bind]{arg: true, ignore: true}, "name", "id", "backlog", "maxconn", "nice", "process", "thread",
		"mss", "tcp-ut", "level", "mode", "user", "group", "gid", "uid"),
	bindSSLOpts,
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (binding addresses the host does not own) is not supported"}, "transparent"),
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (binding to one network interface) is not supported"}, "interface"),
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (network namespaces) is not supported"}, "namespace"),
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (choosing the multiplexer protocol) is not supported"}, "proto"),
	opts(lineOpt[*Bind]{fail: "%[1]s: '%[2]s' (QUIC) is not supported"}, "quic-cc-algo"),
)

func (p *parser) parseBind(w []string) error {
	if len(w) < 2 {
		return p.errf("'bind' expects an address and a port")
	}
	addrs, err := parseBindAddrs(w[1])
	if err != nil {
		return p.errf("bind: %v", err)
	}
	var b Bind
	if err := applyLineOpts(p, bindOpts, &b, "bind", w[2:]); err != nil {
		return err
	}
	if d := p.cfg.Global.DefaultBindSSL; b.SSL.Enabled && len(d) > 0 {
		// The global defaults first, then the line's own words over them.
		// Warnings were given for the line's words just above and for the
		// defaults at their global line: not again.
		b = Bind{}
		nw := len(p.cfg.Warnings)
		if err := applyLineOpts(p, bindOpts, &b, "bind", append(append([]string(nil), d...), w[2:]...)); err != nil {
			return err
		}
		p.cfg.Warnings = p.cfg.Warnings[:nw]
	}
	if err := p.finishBindSSL(&b, w[1]); err != nil {
		return err
	}
	for _, a := range addrs {
		one := b
		one.Addr, one.Where = a, p.where()
		p.sec.fe.Binds = append(p.sec.fe.Binds, one)
	}
	return nil
}
