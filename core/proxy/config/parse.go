package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// File is one configuration file's name (used in messages) and content.
type File struct {
	Name string
	Data []byte
}

// Options tune parsing.
type Options struct {
	// LookupEnv expands "$VAR" inside double quotes; nil expands to "".
	LookupEnv func(string) (string, bool)
}

// ParseFiles reads and parses the files in order, as one configuration
// (haproxy -f a.cfg -f b.cfg).
func ParseFiles(paths []string, opts Options) (*Config, error) {
	var srcs []File
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, &Error{File: p, Msg: fmt.Sprintf("cannot read configuration: %v", err)}
		}
		srcs = append(srcs, File{Name: p, Data: b})
	}
	return Parse(srcs, opts)
}

// Parse parses the sources in order. The error, if any, is an *Error.
func Parse(srcs []File, opts Options) (*Config, error) {
	p := &parser{opts: opts, cfg: &Config{}, names: map[string]string{}}
	p.cfg.Global.BufSize = DefaultBufSize
	p.resetDefaults()
	if len(srcs) == 0 {
		return nil, &Error{File: "config", Msg: "no configuration file"}
	}
	for _, src := range srcs {
		p.file = src.Name
		p.sec = nil
		p.kind = ""
		for i, line := range strings.Split(string(src.Data), "\n") {
			p.line = i + 1
			words, err := splitLine(line, opts.LookupEnv)
			if err != nil {
				return nil, p.errf("%v", err)
			}
			if len(words) == 0 {
				continue
			}
			if err := p.parseLine(words); err != nil {
				return nil, err
			}
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// defaults is what a "defaults" section passes on to later sections.
type defaults struct {
	timeouts       Timeouts
	balance        Balance
	retries        int
	redispatch     bool
	spliceReq      bool
	spliceResp     bool
	spliceAuto     bool
	maxconn        int
	log            bool
	tcplog         bool
	defaultBackend string
	defaultServer  Server
}

// section is the proxy section being parsed.
type section struct {
	kind string // "frontend", "backend", "listen", "defaults"
	name string
	fe   *Frontend
	be   *Backend
	acls map[string]*ACL
	// defaultServer holds this section's own default-server settings.
	defaultServer *Server
}

// who names the section in messages.
func (s *section) who() string {
	if s.kind == "defaults" {
		return "the defaults section"
	}
	return fmt.Sprintf("proxy %q", s.name)
}

type parser struct {
	opts  Options
	cfg   *Config
	file  string
	line  int
	kind  string // current section keyword, "" before any
	sec   *section
	def   defaults
	names map[string]string // proxy name -> "frontend"/"backend"/"listen"
}

func (p *parser) where() Where { return Where{File: p.file, Line: p.line} }

func (p *parser) errf(format string, args ...any) error {
	return &Error{File: p.file, Line: p.line, Msg: oneLine(fmt.Sprintf(format, args...))}
}

func (p *parser) warnf(format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{File: p.file, Line: p.line, Msg: oneLine(fmt.Sprintf(format, args...))})
}

// oneLine escapes control characters (a word may hold "\n" written as an
// escape) so that every message stays on one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *parser) resetDefaults() {
	p.def = defaults{
		retries: DefaultRetries,
		defaultServer: Server{
			Inter: DefaultInter, Rise: DefaultRise, Fall: DefaultFall, Weight: 1,
		},
	}
}

func (p *parser) parseLine(w []string) error {
	switch w[0] {
	case "global":
		p.kind, p.sec = "global", nil
		return nil
	case "defaults":
		// A new defaults section starts from HAProxy's built-in defaults.
		p.kind = "defaults"
		p.resetDefaults()
		p.sec = &section{kind: "defaults"}
		if len(w) > 1 {
			p.sec.name = w[1]
		}
		return nil
	case "frontend", "backend", "listen":
		return p.startProxy(w)
	case "peers", "resolvers", "userlist", "mailers", "program", "http-errors", "ring", "cache":
		// Sections that do nothing for a TCP proxy: skipped with a warning
		// so a config that has them still loads.
		p.warnf("section %q is not supported and is ignored", w[0])
		p.kind, p.sec = "ignored", nil
		return nil
	}
	switch p.kind {
	case "":
		return p.errf("unknown keyword %q out of section", w[0])
	case "ignored":
		return nil
	case "global":
		return p.parseGlobal(w)
	}
	return p.parseProxy(w)
}

func (p *parser) startProxy(w []string) error {
	kind := w[0]
	if len(w) < 2 {
		return p.errf("%s: missing name", kind)
	}
	name := w[1]
	if err := checkProxyName(name); err != nil {
		return p.errf("%s %q: %v", kind, name, err)
	}
	if len(w) > 2 {
		if w[2] == "from" {
			return p.errf("%s %q: named defaults ('from') are not supported", kind, name)
		}
		return p.errf("%s %q: unexpected argument %q", kind, name, w[2])
	}
	// A frontend and a backend may share a name; a listen may not share it
	// with anything, nor two sections of one kind (HAProxy's rule).
	if prev, ok := p.names[name]; ok {
		if prev == kind || prev == "listen" || kind == "listen" || strings.Contains(prev, "+") {
			return p.errf("%s %q has the same name as another %s", kind, name, strings.Split(prev, "+")[0])
		}
		p.names[name] = prev + "+" + kind
	} else {
		p.names[name] = kind
	}
	p.kind = kind
	s := &section{kind: kind, name: name, acls: predefinedACLs()}
	at := p.where()
	d := p.def
	if kind != "backend" {
		s.fe = &Frontend{
			Name: name, Where: at, MaxConn: d.maxconn, Timeouts: d.timeouts,
			SpliceRequest: d.spliceReq, SpliceResponse: d.spliceResp, SpliceAuto: d.spliceAuto,
			Log: d.log, TCPLog: d.tcplog, defaultBackendName: d.defaultBackend, defaultBackendAt: at,
		}
		p.cfg.Frontends = append(p.cfg.Frontends, s.fe)
	}
	if kind != "frontend" {
		s.be = &Backend{
			Name: name, Where: at, Balance: d.balance, Timeouts: d.timeouts, Retries: d.retries,
			Redispatch: d.redispatch, SpliceRequest: d.spliceReq, SpliceResponse: d.spliceResp,
			SpliceAuto: d.spliceAuto, Log: d.log, TCPLog: d.tcplog,
		}
		p.cfg.Backends = append(p.cfg.Backends, s.be)
	}
	p.sec = s
	return nil
}

func checkProxyName(name string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("character %q is not permitted in a proxy name", c)
		}
	}
	return nil
}

// ignoredGlobal are global keywords that do not change what a TCP proxy
// does in this implementation (process management, TLS, threads…): they
// are accepted and ignored (documented in spec/proxy.md).
var ignoredGlobal = map[string]bool{
	"daemon": true, "nbthread": true, "nbproc": true, "stats": true, "user": true, "group": true,
	"uid": true, "gid": true, "chroot": true, "pidfile": true, "ulimit-n": true, "master-worker": true,
	"ca-base": true, "crt-base": true, "ssl-default-bind-ciphers": true, "ssl-default-bind-ciphersuites": true,
	"ssl-default-bind-options": true, "ssl-default-server-ciphers": true, "ssl-default-server-ciphersuites": true,
	"ssl-default-server-options": true, "ssl-server-verify": true, "spread-checks": true, "quiet": true,
	"description": true, "node": true, "cpu-map": true, "log-send-hostname": true, "log-tag": true,
	"insecure-fork-wanted": true, "noepoll": true, "nopoll": true, "nosplice": true, "nogetaddrinfo": true,
	"noreuseport": true, "busy-polling": true, "maxconnrate": true, "maxsessrate": true, "maxpipes": true,
	"grace": true, "unix-bind": true, "external-check": true, "localpeer": true, "expose-experimental-directives": true,
	"tune.maxrewrite": true, "tune.ssl.default-dh-param": true, "tune.ssl.cachesize": true, "tune.maxaccept": true,
	"tune.maxpollevents": true, "tune.rcvbuf.client": true, "tune.rcvbuf.server": true, "tune.sndbuf.client": true,
	"tune.sndbuf.server": true, "tune.pipesize": true, "tune.recv_enough": true, "tune.runqueue-depth": true,
	"tune.idle-pool.shared": true, "tune.comp.maxlevel": true, "tune.http.maxhdr": true, "tune.h2.max-concurrent-streams": true,
	"server-state-file": true, "server-state-base": true, "set-dumpable": true, "strict-limits": true,
	"h1-case-adjust": true, "hard-stop-after-grace": false,
}

func (p *parser) parseGlobal(w []string) error {
	switch w[0] {
	case "maxconn":
		if len(w) != 2 {
			return p.errf("'maxconn' expects one integer argument")
		}
		n, err := parseInt(w[1], 1<<30)
		if err != nil {
			return p.errf("maxconn: %v", err)
		}
		p.cfg.Global.MaxConn = n
	case "tune.bufsize":
		if len(w) != 2 {
			return p.errf("'tune.bufsize' expects one size argument")
		}
		n, err := parseSize(w[1])
		if err != nil {
			return p.errf("tune.bufsize: %v", err)
		}
		if n < MinBufSize {
			p.warnf("tune.bufsize %d is below the supported minimum, using %d", n, MinBufSize)
			n = MinBufSize
		}
		if n > 1<<26 {
			return p.errf("tune.bufsize: %d is too large (at most 64m)", n)
		}
		p.cfg.Global.BufSize = n
	case "hard-stop-after":
		if len(w) != 2 {
			return p.errf("'hard-stop-after' expects one time argument")
		}
		d, err := parseTime(w[1])
		if err != nil {
			return p.errf("hard-stop-after: %v", err)
		}
		p.cfg.Global.HardStopAfter = d
	case "log":
		if len(w) < 2 {
			return p.errf("'log' expects an address and a facility")
		}
		p.cfg.Global.Log = true
	default:
		if ignoredGlobal[w[0]] {
			return nil
		}
		return p.errf("unknown keyword %q in global section", w[0])
	}
	return nil
}

// ignoredOptions are "option" names accepted and ignored in tcp mode.
var ignoredOptions = map[string]bool{
	"dontlognull": true, "dontlog-normal": true, "log-health-checks": true, "tcpka": true, "clitcpka": true,
	"srvtcpka": true, "socket-stats": true, "logasap": true, "abortonclose": true, "log-separate-errors": true,
	"allbackups": true, "persist": true, "independent-streams": true, "nolinger": true, "tcp-smart-accept": true,
	"tcp-smart-connect": true, "contstats": true, "transparent": false,
}

// httpOptions need mode http; HAProxy warns and ignores them in tcp mode.
var httpOptions = map[string]bool{
	"forwardfor": true, "http-server-close": true, "httpclose": true, "http-keep-alive": true,
	"http-pretend-keepalive": true, "http-no-delay": true, "http-buffer-request": true, "originalto": true,
	"http-use-proxy-header": true, "accept-invalid-http-request": true, "accept-invalid-http-response": true,
	"http-ignore-probes": true, "http-restrict-req-hdr-names": true, "h1-case-adjust-bogus-client": true,
	"h1-case-adjust-bogus-server": true, "forceclose": true, "http-tunnel": true,
}

// checkOptions select a health-check protocol; only the connect check is
// implemented, so these fall back to it with a warning.
var checkOptions = map[string]bool{
	"httpchk": true, "tcp-check": true, "ssl-hello-chk": true, "smtpchk": true, "mysql-check": true,
	"pgsql-check": true, "redis-check": true, "ldap-check": true, "spop-check": true, "external-check": true,
}

// ignoredProxyKeywords do nothing for a TCP proxy here.
var ignoredProxyKeywords = map[string]bool{
	"description": true, "id": true, "enabled": true, "hash-type": true, "fullconn": true,
	"log-format": true, "log-tag": true, "backlog": true, "rate-limit": true, "hash-balance-factor": true,
	"email-alert": true, "load-server-state-from-file": true, "server-state-file-name": true, "unique-id-format": true,
	"error-log-format": true, "log-format-sd": true, "persist": true,
}

// httpKeywords need mode http; HAProxy warns and ignores them in tcp mode.
var httpKeywords = map[string]bool{
	"http-request": true, "http-response": true, "http-after-response": true, "http-reuse": true,
	"http-check": true, "errorfile": true, "errorloc": true, "errorloc302": true, "errorloc303": true,
	"errorfiles": true, "compression": true, "cookie": true, "capture": true, "redirect": true,
	"monitor-uri": true, "monitor": true, "stats": true, "http-error": true, "unique-id-header": true,
	"filter": true, "stick": true, "stick-table": true, "tcp-check": true, "option-http": false,
}

// caps: which section kinds a keyword applies to. f=frontend, b=backend,
// d=defaults (listen has both).
func (p *parser) capOK(kw, caps string) (bool, error) {
	s := p.sec
	switch s.kind {
	case "defaults":
		if !strings.Contains(caps, "d") {
			return false, p.errf("%q is not supported in a defaults section", kw)
		}
		return true, nil
	case "frontend":
		if !strings.Contains(caps, "f") {
			p.warnf("%q ignored because frontend %q has no backend capability", kw, s.name)
			return false, nil
		}
	case "backend":
		if !strings.Contains(caps, "b") {
			p.warnf("%q ignored because backend %q has no frontend capability", kw, s.name)
			return false, nil
		}
	}
	return true, nil
}

func (p *parser) parseProxy(w []string) error {
	s := p.sec
	kw := w[0]
	switch kw {
	case "mode":
		if len(w) != 2 {
			return p.errf("'mode' expects one argument: tcp")
		}
		switch w[1] {
		case "tcp":
		case "http":
			return p.errf("mode http is not supported: this proxy implements mode tcp only")
		case "health":
			return p.errf("mode health is not supported (removed from HAProxy 2.4); use mode tcp")
		default:
			return p.errf("unknown proxy mode %q (expects tcp)", w[1])
		}
		return nil
	case "bind":
		return p.parseBind(w)
	case "server":
		return p.parseServerLine(w)
	case "default-server":
		if ok, err := p.capOK(kw, "bd"); !ok {
			return err
		}
		if s.kind == "defaults" {
			return p.serverOptions(&p.def.defaultServer, w[1:], true)
		}
		// default-server inside a backend applies to that backend's later
		// servers only.
		if s.defaultServer == nil {
			cp := p.def.defaultServer
			s.defaultServer = &cp
		}
		return p.serverOptions(s.defaultServer, w[1:], true)
	case "balance":
		if ok, err := p.capOK(kw, "bd"); !ok {
			return err
		}
		if len(w) < 2 {
			return p.errf("'balance' expects roundrobin, leastconn or source")
		}
		var b Balance
		switch w[1] {
		case "roundrobin":
			b = RoundRobin
		case "leastconn":
			b = LeastConn
		case "source":
			b = Source
		case "static-rr", "first", "random", "uri", "url_param", "hdr", "rdp-cookie":
			return p.errf("balance %q is not supported (roundrobin, leastconn or source)", w[1])
		default:
			return p.errf("unknown balance algorithm %q", w[1])
		}
		if len(w) > 2 {
			return p.errf("balance %s: unexpected argument %q", w[1], w[2])
		}
		if s.kind == "defaults" {
			p.def.balance = b
		} else {
			s.be.Balance = b
		}
		return nil
	case "timeout":
		return p.parseTimeout(w)
	case "maxconn":
		if ok, err := p.capOK(kw, "fd"); !ok {
			return err
		}
		if len(w) != 2 {
			return p.errf("'maxconn' expects one integer argument")
		}
		n, err := parseInt(w[1], 1<<30)
		if err != nil {
			return p.errf("maxconn: %v", err)
		}
		if s.kind == "defaults" {
			p.def.maxconn = n
		} else {
			s.fe.MaxConn = n
		}
		return nil
	case "retries":
		if ok, err := p.capOK(kw, "bd"); !ok {
			return err
		}
		if len(w) != 2 {
			return p.errf("'retries' expects one integer argument")
		}
		n, err := parseInt(w[1], 1000)
		if err != nil {
			return p.errf("retries: %v", err)
		}
		if s.kind == "defaults" {
			p.def.retries = n
		} else {
			s.be.Retries = n
		}
		return nil
	case "default_backend":
		if ok, err := p.capOK(kw, "fd"); !ok {
			return err
		}
		if len(w) != 2 {
			return p.errf("'default_backend' expects a backend name")
		}
		if s.kind == "defaults" {
			p.def.defaultBackend = w[1]
		} else {
			s.fe.defaultBackendName, s.fe.defaultBackendAt = w[1], p.where()
		}
		return nil
	case "use_backend":
		if ok, err := p.capOK(kw, "f"); !ok {
			return err
		}
		if len(w) < 2 {
			return p.errf("'use_backend' expects a backend name")
		}
		c, err := parseCond(w[2:], s.acls)
		if err != nil {
			return p.errf("use_backend: %v", err)
		}
		s.fe.UseBackends = append(s.fe.UseBackends, UseBackend{name: w[1], Cond: c, Where: p.where()})
		return nil
	case "tcp-request":
		return p.parseTCPRequest(w)
	case "acl":
		if s.kind == "defaults" {
			return p.errf("'acl' is not supported in a defaults section")
		}
		if len(w) < 3 {
			return p.errf("'acl' expects a name, a fetch method and patterns")
		}
		if _, builtin := predefinedACLs()[w[1]]; builtin {
			return p.errf("acl %q: name is reserved for a predefined ACL", w[1])
		}
		a := s.acls[w[1]]
		if a == nil {
			a = &ACL{Name: w[1]}
		}
		if err := fillACL(a, w[2:]); err != nil {
			return p.errf("%v", err)
		}
		s.acls[w[1]] = a
		return nil
	case "option", "no":
		return p.parseOption(w)
	case "log":
		if len(w) < 2 {
			return p.errf("'log' expects 'global' or an address and a facility")
		}
		p.setLog(func(fe *Frontend) { fe.Log = true }, func(be *Backend) { be.Log = true }, func(d *defaults) { d.log = true })
		return nil
	case "disabled":
		p.warnf("%q: disabled proxies are not supported; the section stays enabled", kw)
		return nil
	case "clitimeout", "srvtimeout", "contimeout":
		return p.errf("%q was removed from HAProxy; use 'timeout client|server|connect'", kw)
	case "tcp-response":
		return p.errf("'tcp-response' rules are not supported")
	case "source", "dispatch", "transparent", "usesrc":
		return p.errf("%q is not supported", kw)
	}
	if ignoredProxyKeywords[kw] {
		return nil
	}
	if httpKeywords[kw] {
		p.warnf("%q ignored for %s as it requires HTTP mode", kw, s.who())
		return nil
	}
	return p.errf("unknown keyword %q in %s section", kw, s.kind)
}

func (p *parser) setLog(fe func(*Frontend), be func(*Backend), d func(*defaults)) {
	s := p.sec
	if s.kind == "defaults" {
		d(&p.def)
		return
	}
	if s.fe != nil {
		fe(s.fe)
	}
	if s.be != nil {
		be(s.be)
	}
}

func (p *parser) parseBind(w []string) error {
	s := p.sec
	if s.kind == "defaults" {
		return p.errf("'bind' is not supported in a defaults section")
	}
	if s.fe == nil {
		p.warnf("'bind' ignored because backend %q has no frontend capability", s.name)
		return nil
	}
	if len(w) < 2 {
		return p.errf("'bind' expects an address and a port")
	}
	addrs, err := parseBindAddrs(w[1])
	if err != nil {
		return p.errf("bind: %v", err)
	}
	acceptProxy := false
	for i := 2; i < len(w); i++ {
		switch w[i] {
		case "accept-proxy":
			acceptProxy = true
		case "v4v6", "v6only", "defer-accept", "tfo", "transparent-no", "allow-0rtt":
		case "name", "id", "backlog", "maxconn", "nice", "process", "thread", "mss", "tcp-ut", "level", "mode", "user", "group", "gid", "uid":
			if i+1 >= len(w) {
				return p.errf("bind: %q expects an argument", w[i])
			}
			i++
		case "ssl", "crt", "ca-file", "alpn", "npn", "verify", "crt-list", "ciphers", "ciphersuites", "ssl-min-ver", "ssl-max-ver":
			return p.errf("bind: %q (TLS) is not supported", w[i])
		case "transparent", "interface", "namespace", "proto", "quic-cc-algo":
			return p.errf("bind: %q is not supported", w[i])
		default:
			return p.errf("bind: unknown keyword %q", w[i])
		}
	}
	for _, a := range addrs {
		s.fe.Binds = append(s.fe.Binds, Bind{Addr: a, AcceptProxy: acceptProxy, Where: p.where()})
	}
	return nil
}

func (p *parser) parseServerLine(w []string) error {
	s := p.sec
	if s.kind == "defaults" {
		return p.errf("'server' is not supported in a defaults section")
	}
	if s.be == nil {
		// HAProxy 2.6 rejects this one (an ALERT, not a warning).
		return p.errf("'server' not allowed because frontend %q has no backend capability", s.name)
	}
	if len(w) < 3 {
		return p.errf("'server' expects a name and an address")
	}
	for _, o := range s.be.Servers {
		if o.Name == w[1] {
			return p.errf("server %q: duplicate name in backend %q (first at line %d)", w[1], s.be.Name, o.Where.Line)
		}
	}
	host, port, err := parseServerAddr(w[2])
	if err != nil {
		return p.errf("server %q: %v", w[1], err)
	}
	srv := p.def.defaultServer
	if s.defaultServer != nil {
		srv = *s.defaultServer
	}
	srv.Name, srv.Host, srv.Port, srv.Where = w[1], host, port, p.where()
	if err := p.serverOptions(&srv, w[3:], false); err != nil {
		return err
	}
	s.be.Servers = append(s.be.Servers, &srv)
	return nil
}

// serverOptions applies server (or default-server) keywords.
func (p *parser) serverOptions(srv *Server, w []string, isDefault bool) error {
	who := "server " + strconv.Quote(srv.Name)
	if isDefault {
		who = "default-server"
	}
	arg := func(i int) (string, error) {
		if i+1 >= len(w) {
			return "", p.errf("%s: %q expects an argument", who, w[i])
		}
		return w[i+1], nil
	}
	for i := 0; i < len(w); i++ {
		kw := w[i]
		switch kw {
		case "check":
			srv.Check = true
		case "no-check":
			srv.Check = false
		case "send-proxy":
			srv.SendProxy = 1
		case "send-proxy-v2":
			srv.SendProxy = 2
		case "no-send-proxy", "no-send-proxy-v2":
			srv.SendProxy = 0
		case "backup":
			srv.Backup = true
		case "no-backup":
			srv.Backup = false
		case "disabled":
			srv.Disabled = true
		case "enabled":
			srv.Disabled = false
		case "inter", "fastinter", "downinter":
			a, err := arg(i)
			if err != nil {
				return err
			}
			d, err := parseTime(a)
			if err != nil {
				return p.errf("%s: %s: %v", who, kw, err)
			}
			if d <= 0 {
				return p.errf("%s: %s must be greater than 0", who, kw)
			}
			switch kw {
			case "inter":
				srv.Inter = d
			case "fastinter":
				srv.FastInter = d
			default:
				srv.DownInter = d
			}
			i++
		case "rise", "fall", "weight", "maxconn", "maxqueue":
			a, err := arg(i)
			if err != nil {
				return err
			}
			max := 1 << 30
			if kw == "weight" {
				max = 256
			}
			n, err := parseInt(a, max)
			if err != nil {
				return p.errf("%s: %s: %v", who, kw, err)
			}
			if (kw == "rise" || kw == "fall") && n == 0 {
				return p.errf("%s: %s must be at least 1", who, kw)
			}
			switch kw {
			case "rise":
				srv.Rise = n
			case "fall":
				srv.Fall = n
			case "weight":
				srv.Weight = n
			case "maxconn":
				srv.MaxConn = n
			default:
				srv.MaxQueue = n
			}
			i++
		case "id", "cookie", "init-addr", "resolve-prefer", "slowstart", "minconn", "observe", "error-limit",
			"on-error", "on-marked-down", "on-marked-up", "pool-max-conn", "pool-purge-delay", "max-reuse",
			"agent-inter", "tcp-ut", "log-proto", "namespace", "redir", "track", "resolvers", "resolve-opts":
			// Accepted and ignored: none changes a TCP relay here.
			if _, err := arg(i); err != nil {
				return err
			}
			i++
		case "port":
			a, err := arg(i)
			if err != nil {
				return err
			}
			n, err := parsePort(a)
			if err != nil || n == 0 {
				return p.errf("%s: port: invalid port %q", who, a)
			}
			srv.CheckPort = n
			i++
		case "addr":
			a, err := arg(i)
			if err != nil {
				return err
			}
			if err := checkHost(a); err != nil {
				return p.errf("%s: addr: %v", who, err)
			}
			srv.CheckAddr = a
			i++
		case "check-send-proxy", "check-ssl", "no-agent-check", "non-stick", "tfo", "no-tfo":
			p.warnf("%s: %q is ignored (health checks are a plain TCP connect)", who, kw)
		case "ssl", "verify", "ca-file", "crt", "sni", "alpn", "ciphers", "check-sni", "force-tlsv12", "force-tlsv13":
			return p.errf("%s: %q (TLS) is not supported", who, kw)
		case "source", "usesrc", "proxy-v2-options", "socks4", "agent-check", "agent-port", "agent-send", "agent-addr":
			return p.errf("%s: %q is not supported", who, kw)
		default:
			return p.errf("%s: unknown keyword %q", who, kw)
		}
	}
	return nil
}

func (p *parser) parseTimeout(w []string) error {
	s := p.sec
	if len(w) < 2 {
		return p.errf("'timeout' expects a name and a time")
	}
	name := w[1]
	var caps string
	switch name {
	case "client", "client-fin":
		caps = "fd"
	case "connect", "server", "tunnel", "queue", "server-fin", "check":
		caps = "bd"
	case "http-request", "http-keep-alive", "tarpit":
		if len(w) != 3 {
			return p.errf("timeout %s expects one time argument", name)
		}
		if _, err := parseTime(w[2]); err != nil {
			return p.errf("timeout %s: %v", name, err)
		}
		return nil // HTTP timeouts: accepted, no effect in tcp mode
	default:
		return p.errf("unknown timeout %q (connect, client, server, tunnel, queue, client-fin, server-fin, check)", name)
	}
	if len(w) != 3 {
		return p.errf("timeout %s expects one time argument", name)
	}
	d, err := parseTime(w[2])
	if err != nil {
		return p.errf("timeout %s: %v", name, err)
	}
	if ok, err := p.capOK("timeout "+name, caps); !ok {
		return err
	}
	set := func(t *Timeouts) {
		switch name {
		case "client":
			t.Client = d
		case "client-fin":
			t.ClientFin = d
		case "connect":
			t.Connect = d
		case "server":
			t.Server = d
		case "tunnel":
			t.Tunnel = d
		case "queue":
			t.Queue = d
		case "server-fin":
			t.ServerFin = d
		case "check":
			t.Check = d
		}
	}
	if s.kind == "defaults" {
		set(&p.def.timeouts)
		return nil
	}
	if s.fe != nil {
		set(&s.fe.Timeouts)
	}
	if s.be != nil {
		set(&s.be.Timeouts)
	}
	return nil
}

func (p *parser) parseTCPRequest(w []string) error {
	s := p.sec
	if s.kind == "defaults" {
		return p.errf("'tcp-request' rules are not supported in a defaults section")
	}
	if len(w) < 2 {
		return p.errf("'tcp-request' expects 'connection', 'session' or 'content'")
	}
	if w[1] != "connection" {
		return p.errf("tcp-request %s is not supported (only 'tcp-request connection')", w[1])
	}
	if s.fe == nil {
		p.warnf("'tcp-request connection' ignored because backend %q has no frontend capability", s.name)
		return nil
	}
	if len(w) < 3 {
		return p.errf("tcp-request connection: missing action (accept or reject)")
	}
	var a Action
	switch w[2] {
	case "accept":
		a = Accept
	case "reject":
		a = Reject
	default:
		return p.errf("tcp-request connection: action %q is not supported (accept or reject)", w[2])
	}
	c, err := parseCond(w[3:], s.acls)
	if err != nil {
		return p.errf("tcp-request connection %s: %v", w[2], err)
	}
	s.fe.TCPRules = append(s.fe.TCPRules, TCPRule{Action: a, Cond: c, Where: p.where()})
	return nil
}

func (p *parser) parseOption(w []string) error {
	s := p.sec
	neg := false
	if w[0] == "no" {
		if len(w) < 2 || w[1] != "option" {
			return p.errf("'no' expects 'option'")
		}
		neg, w = true, w[1:]
	}
	if len(w) < 2 {
		return p.errf("'option' expects an option name")
	}
	name := w[1]
	on := !neg
	switch name {
	case "splice-auto", "splice-request", "splice-response":
		set := func(req, resp, auto *bool) {
			switch name {
			case "splice-auto":
				*auto = on
			case "splice-request":
				*req = on
			default:
				*resp = on
			}
		}
		if s.kind == "defaults" {
			set(&p.def.spliceReq, &p.def.spliceResp, &p.def.spliceAuto)
			return nil
		}
		if s.fe != nil {
			set(&s.fe.SpliceRequest, &s.fe.SpliceResponse, &s.fe.SpliceAuto)
		}
		if s.be != nil {
			set(&s.be.SpliceRequest, &s.be.SpliceResponse, &s.be.SpliceAuto)
		}
	case "redispatch":
		if ok, err := p.capOK("option redispatch", "bd"); !ok {
			return err
		}
		if s.kind == "defaults" {
			p.def.redispatch = on
		} else {
			s.be.Redispatch = on
		}
	case "tcplog", "httplog", "clf", "httpslog":
		if name != "tcplog" {
			p.warnf("option %s not usable with %s (needs 'mode http'); falling back to 'option tcplog'", name, s.who())
		}
		p.setLog(func(fe *Frontend) { fe.TCPLog = on }, func(be *Backend) { be.TCPLog = on }, func(d *defaults) { d.tcplog = on })
	default:
		switch {
		case ignoredOptions[name]:
		case httpOptions[name]:
			p.warnf("option %s ignored for %s as it requires HTTP mode", name, s.who())
		case checkOptions[name]:
			p.warnf("option %s is not supported; health checks fall back to a TCP connect check", name)
		default:
			return p.errf("unknown option %q", name)
		}
	}
	return nil
}

// finish resolves backend references and checks the whole configuration.
func (p *parser) finish() error {
	c := p.cfg
	listeners := 0
	for _, fe := range c.Frontends {
		listeners += len(fe.Binds)
		if len(fe.Binds) == 0 {
			c.Warnings = append(c.Warnings, Warning{File: fe.Where.File, Line: fe.Where.Line, Msg: fmt.Sprintf("%s %q has no 'bind' directive. Please declare it as a backend if this was intended", strings.Split(p.names[fe.Name], "+")[0], fe.Name)})
		}
		if fe.defaultBackendName != "" {
			be := c.Backend(fe.defaultBackendName)
			if be == nil {
				return &Error{File: fe.defaultBackendAt.File, Line: fe.defaultBackendAt.Line, Msg: fmt.Sprintf("frontend %q: unable to find required default_backend %q", fe.Name, fe.defaultBackendName)}
			}
			fe.DefaultBackend = be
		}
		for i := range fe.UseBackends {
			u := &fe.UseBackends[i]
			u.Backend = c.Backend(u.name)
			if u.Backend == nil {
				return &Error{File: u.Where.File, Line: u.Where.Line, Msg: fmt.Sprintf("frontend %q: unable to find required use_backend %q", fe.Name, u.name)}
			}
		}
		// A listen section is its own default backend.
		if fe.DefaultBackend == nil && strings.HasPrefix(p.names[fe.Name], "listen") {
			fe.DefaultBackend = c.Backend(fe.Name)
		}
		if fe.Timeouts.Client == 0 {
			c.Warnings = append(c.Warnings, Warning{File: fe.Where.File, Line: fe.Where.Line, Msg: fmt.Sprintf("missing timeouts for frontend %q: 'timeout client' is not set", fe.Name)})
		}
	}
	if listeners == 0 {
		// HAProxy: "Configuration file has no error but will not start (no
		// listener)", exit 2.
		last := p.file
		return &Error{File: last, Msg: "configuration has no listener (no 'bind' in any frontend or listen section)"}
	}
	for _, be := range c.Backends {
		if be.Timeouts.Connect == 0 || be.Timeouts.Server == 0 {
			c.Warnings = append(c.Warnings, Warning{File: be.Where.File, Line: be.Where.Line, Msg: fmt.Sprintf("missing timeouts for backend %q: 'timeout connect' and 'timeout server' should be set", be.Name)})
		}
	}
	return nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
