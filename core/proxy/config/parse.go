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
	p.cfg.Global.Stats = Stats{Timeout: DefaultStatsTimeout, MaxConn: DefaultStatsMaxConn}
	p.resetDefaults()
	if len(srcs) == 0 {
		return nil, &Error{File: "config", Msg: "no configuration file"}
	}
	for _, src := range srcs {
		p.file = src.Name
		p.sec = nil
		p.kind = ""
		lines := strings.Split(string(src.Data), "\n")
		for i, line := range lines {
			p.line = i + 1
			p.rest = lines[i+1:]
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
	hashType       HashType
	avalanche      bool
	chk            checkConf
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
	// table is the section's stick-table, nil until declared.
	table *StickTable
}

// who names the section in messages.
func (s *section) who() string {
	if s.kind == "defaults" {
		return "the defaults section"
	}
	return fmt.Sprintf("proxy '%s'", s.name)
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
	// lastID is the last proxy id given (see Frontend.ID).
	lastID int
	// rest are the current file's lines after the current one, for the
	// few messages that name a later line of the same section.
	rest []string
	// ruleSetName is the tcp-request rule set being parsed (messages).
	ruleSetName string
}

// isSectionHeader says whether a line starting with word opens a section.
func isSectionHeader(word string) bool {
	switch word {
	case "global", "defaults", "frontend", "backend", "listen":
		return true
	}
	return ignoredSections[word]
}

// aheadInSection returns the line number of the first later line of the
// current section whose keyword is kw, or 0.
func (p *parser) aheadInSection(kw string) int {
	for i, line := range p.rest {
		w, err := splitLine(line, nil)
		if err != nil || len(w) == 0 {
			continue
		}
		if isSectionHeader(w[0]) {
			return 0
		}
		if w[0] == kw {
			return p.line + 1 + i
		}
	}
	return 0
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

// parseLine applies one line: a section header, else a keyword of the
// current section (keywords.go).
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
	}
	if ignoredSections[w[0]] {
		p.warnf("section '%s' is not supported and is ignored", w[0])
		p.kind, p.sec = "ignored", nil
		return nil
	}
	switch p.kind {
	case "":
		return p.errf("unknown keyword %q out of section", w[0])
	case "ignored":
		return nil
	}
	return p.parseKeyword(w)
}

func (p *parser) startProxy(w []string) error {
	kind := w[0]
	if len(w) < 2 {
		return p.errf("%s: missing name", kind)
	}
	name := w[1]
	if err := checkProxyName(name); err != nil {
		return p.errf("%s '%s': %v", kind, name, err)
	}
	if len(w) > 2 {
		if w[2] == "from" {
			return p.errf("%s '%s': named defaults ('from') are not supported", kind, name)
		}
		return p.errf("%s '%s': unexpected argument '%s'", kind, name, w[2])
	}
	// A frontend and a backend may share a name; a listen may not share it
	// with anything, nor two sections of one kind (HAProxy's rule).
	if prev, ok := p.names[name]; ok {
		if prev == kind || prev == "listen" || kind == "listen" || strings.Contains(prev, "+") {
			return p.errf("%s '%s' has the same name as another %s", kind, name, strings.Split(prev, "+")[0])
		}
		p.names[name] = prev + "+" + kind
	} else {
		p.names[name] = kind
	}
	p.kind = kind
	if p.lastID == 0 {
		p.lastID = 1 // HAProxy's internal GLOBAL proxy (the stats socket's) is 1
	}
	p.lastID++
	id := p.lastID
	s := &section{kind: kind, name: name, acls: predefinedACLs()}
	at := p.where()
	d := p.def
	if kind != "backend" {
		s.fe = &Frontend{
			Name: name, ID: id, Where: at, MaxConn: d.maxconn, Timeouts: d.timeouts,
			SpliceRequest: d.spliceReq, SpliceResponse: d.spliceResp, SpliceAuto: d.spliceAuto,
			Log: d.log, TCPLog: d.tcplog, defaultBackendName: d.defaultBackend, defaultBackendAt: at,
		}
		p.cfg.Frontends = append(p.cfg.Frontends, s.fe)
	}
	if kind != "frontend" {
		s.be = &Backend{
			Name: name, ID: id, Where: at, Balance: d.balance, Timeouts: d.timeouts, Retries: d.retries,
			Redispatch: d.redispatch, SpliceRequest: d.spliceReq, SpliceResponse: d.spliceResp,
			SpliceAuto: d.spliceAuto, Log: d.log, TCPLog: d.tcplog,
			HashType: d.hashType, HashAvalanche: d.avalanche,
			chk: checkConf{opt: d.chk.opt, proto: d.chk.proto, defRules: d.chk.rules, defRulesAt: d.chk.rulesAt},
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
			return fmt.Errorf("character '%c' is not permitted in a proxy name", c)
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
			c.Warnings = append(c.Warnings, Warning{File: fe.Where.File, Line: fe.Where.Line, Msg: fmt.Sprintf("%s '%s' has no 'bind' directive. Please declare it as a backend if this was intended", strings.Split(p.names[fe.Name], "+")[0], fe.Name)})
		}
		if fe.defaultBackendName != "" {
			be := c.Backend(fe.defaultBackendName)
			if be == nil {
				return &Error{File: fe.defaultBackendAt.File, Line: fe.defaultBackendAt.Line, Msg: fmt.Sprintf("frontend '%s': unable to find required default_backend '%s'", fe.Name, fe.defaultBackendName)}
			}
			fe.DefaultBackend = be
		}
		for i := range fe.UseBackends {
			u := &fe.UseBackends[i]
			if u.Dynamic != nil {
				continue // resolved per session
			}
			u.Backend = c.Backend(u.name)
			if u.Backend == nil {
				return &Error{File: u.Where.File, Line: u.Where.Line, Msg: fmt.Sprintf("frontend '%s': unable to find required use_backend '%s'", fe.Name, u.name)}
			}
		}
		// A listen section is its own default backend.
		if fe.DefaultBackend == nil && strings.HasPrefix(p.names[fe.Name], "listen") {
			fe.DefaultBackend = c.Backend(fe.Name)
		}
		if fe.Timeouts.Client == 0 {
			c.Warnings = append(c.Warnings, Warning{File: fe.Where.File, Line: fe.Where.Line, Msg: fmt.Sprintf("missing timeouts for frontend '%s': 'timeout client' is not set", fe.Name)})
		}
	}
	if listeners == 0 {
		// HAProxy: "Configuration file has no error but will not start (no
		// listener)", exit 2.
		last := p.file
		return &Error{File: last, Msg: "configuration has no listener (no 'bind' in any frontend or listen section)"}
	}
	for _, be := range c.Backends {
		if err := assignServerIDs(be); err != nil {
			return err
		}
		if err := p.buildCheck(be); err != nil {
			return err
		}
		if be.Timeouts.Connect == 0 || be.Timeouts.Server == 0 {
			c.Warnings = append(c.Warnings, Warning{File: be.Where.File, Line: be.Where.Line, Msg: fmt.Sprintf("missing timeouts for backend '%s': 'timeout connect' and 'timeout server' should be set", be.Name)})
		}
	}
	return p.finishStick()
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
