package config

import (
	"strings"
	"time"
)

// The proxy sections' keywords (the table is in keywords.go). Each parser
// runs only in a section the table allows, so s.fe is set for a frontend
// keyword and s.be for a backend one, except in a defaults section, where
// the value goes to p.def.

func (p *parser) parseMode(w []string) error {
	if len(w) != 2 {
		return p.errf("'mode' expects one argument: tcp")
	}
	switch w[1] {
	case "tcp":
		return nil
	case "http":
		// A "listen stats" page is the usual reason for mode http in an
		// otherwise tcp configuration: say what to use instead.
		if at := p.aheadInSection("stats"); at > 0 {
			return p.errf("mode http is not supported: this proxy implements mode tcp only, so the HTTP statistics page ('stats' at line %d) is not served; use 'stats socket' in the global section for the runtime API", at)
		}
		return p.errf("mode http is not supported: this proxy implements mode tcp only")
	case "health":
		return p.errf("mode health is not supported (removed from HAProxy 2.4); use mode tcp")
	}
	return p.errf("unknown proxy mode '%s' (expects tcp)", w[1])
}

func (p *parser) parseDefaultServer(w []string) error {
	s := p.sec
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
}

// balances are the algorithms; false: HAProxy's, not implemented here.
var balances = map[string]struct {
	b  Balance
	ok bool
}{
	"roundrobin": {RoundRobin, true}, "leastconn": {LeastConn, true}, "source": {Source, true},
	"first": {First, true}, "static-rr": {StaticRR, true},
	"random": {}, "uri": {}, "url_param": {}, "hdr": {}, "rdp-cookie": {},
}

func (p *parser) parseBalance(w []string) error {
	if len(w) < 2 {
		return p.errf("'balance' expects roundrobin, static-rr, leastconn, first or source")
	}
	a, known := balances[w[1]]
	if !known {
		return p.errf("unknown balance algorithm '%s'", w[1])
	}
	if !a.ok {
		return p.errf("balance '%s' is not supported (roundrobin, static-rr, leastconn, first or source)", w[1])
	}
	if len(w) > 2 {
		return p.errf("balance %s: unexpected argument '%s'", w[1], w[2])
	}
	if p.sec.kind == "defaults" {
		p.def.balance = a.b
	} else {
		p.sec.be.Balance = a.b
	}
	return nil
}

func (p *parser) parseMaxConn(w []string) error {
	if len(w) != 2 {
		return p.errf("'maxconn' expects one integer argument")
	}
	n, err := parseInt(w[1], 1<<30)
	if err != nil {
		return p.errf("maxconn: %v", err)
	}
	if p.sec.kind == "defaults" {
		p.def.maxconn = n
	} else {
		p.sec.fe.MaxConn = n
	}
	return nil
}

func (p *parser) parseRetries(w []string) error {
	if len(w) != 2 {
		return p.errf("'retries' expects one integer argument")
	}
	n, err := parseInt(w[1], 1000)
	if err != nil {
		return p.errf("retries: %v", err)
	}
	if p.sec.kind == "defaults" {
		p.def.retries = n
	} else {
		p.sec.be.Retries = n
	}
	return nil
}

func (p *parser) parseDefaultBackend(w []string) error {
	if len(w) != 2 {
		return p.errf("'default_backend' expects a backend name")
	}
	if p.sec.kind == "defaults" {
		p.def.defaultBackend = w[1]
	} else {
		p.sec.fe.defaultBackendName, p.sec.fe.defaultBackendAt = w[1], p.where()
	}
	return nil
}

func (p *parser) parseUseBackend(w []string) error {
	s := p.sec
	if len(w) < 2 {
		return p.errf("'use_backend' expects a backend name")
	}
	u := UseBackend{name: w[1], Where: p.where()}
	if strings.Contains(w[1], "%") {
		f, err := parseNameFormat(w[1])
		if err != nil {
			return p.errf("use_backend '%s': %v", w[1], err)
		}
		u.Dynamic, u.name = f, ""
	}
	c, err := parseCond(w[2:], s.acls, p.warnHere)
	if err != nil {
		return p.errf("use_backend: %v", err)
	}
	u.Cond = c
	s.fe.UseBackends = append(s.fe.UseBackends, u)
	return nil
}

func (p *parser) parseACL(w []string) error {
	s := p.sec
	if len(w) < 3 {
		return p.errf("'acl' expects a name, a fetch method and patterns")
	}
	if _, builtin := predefinedACLs()[w[1]]; builtin {
		return p.errf("acl '%s': name is reserved for a predefined ACL", w[1])
	}
	a := s.acls[w[1]]
	if a == nil {
		a = &ACL{Name: w[1]}
	}
	warn, err := fillACL(a, w[2:])
	if err != nil {
		return p.errf("%v", err)
	}
	if warn != "" {
		p.warnf("%s", warn)
	}
	s.acls[w[1]] = a
	return nil
}

func (p *parser) parseLog(w []string) error {
	if len(w) < 2 {
		return p.errf("'log' expects 'global' or an address and a facility")
	}
	p.setLog(func(fe *Frontend) { fe.Log = true }, func(be *Backend) { be.Log = true }, func(d *defaults) { d.log = true })
	return nil
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

// timeouts are the "timeout" names: where each applies and the field it
// sets; set nil: an HTTP timeout, checked and ignored in tcp mode.
var timeouts = map[string]struct {
	in  secs
	set func(t *Timeouts) *time.Duration
}{
	"client":          {inDefaults | inFrontend, func(t *Timeouts) *time.Duration { return &t.Client }},
	"client-fin":      {inDefaults | inFrontend, func(t *Timeouts) *time.Duration { return &t.ClientFin }},
	"connect":         {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.Connect }},
	"server":          {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.Server }},
	"tunnel":          {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.Tunnel }},
	"queue":           {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.Queue }},
	"server-fin":      {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.ServerFin }},
	"check":           {inDefaults | inBackend, func(t *Timeouts) *time.Duration { return &t.Check }},
	"http-request":    {inProxy, nil},
	"http-keep-alive": {inProxy, nil},
	"tarpit":          {inProxy, nil},
}

func (p *parser) parseTimeout(w []string) error {
	s := p.sec
	if len(w) < 2 {
		return p.errf("'timeout' expects a name and a time")
	}
	name := w[1]
	to, ok := timeouts[name]
	if !ok {
		return p.errf("unknown timeout '%s' (connect, client, server, tunnel, queue, client-fin, server-fin, check)", name)
	}
	if len(w) != 3 {
		return p.errf("timeout %s expects one time argument", name)
	}
	d, err := parseTime(w[2])
	if err != nil {
		return p.errf("timeout %s: %v", name, err)
	}
	if to.set == nil {
		return nil // HTTP timeouts: accepted, no effect in tcp mode
	}
	if ok, err := p.capOK("timeout "+name, to.in); !ok {
		return err
	}
	if s.kind == "defaults" {
		*to.set(&p.def.timeouts) = d
		return nil
	}
	if s.fe != nil {
		*to.set(&s.fe.Timeouts) = d
	}
	if s.be != nil {
		*to.set(&s.be.Timeouts) = d
	}
	return nil
}
