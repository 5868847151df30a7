package config

import (
	"fmt"

	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// checkConf is what a backend (or the defaults section) says about its
// health checks while it is parsed; finish turns it into Backend.Check.
type checkConf struct {
	// opt is the check option in force: "", "tcp-check", "redis-check",
	// "mysql-check", "pgsql-check", "ssl-hello-chk", "smtpchk",
	// "ldap-check".
	opt string
	// proto is the ruleset of a protocol option (all but tcp-check).
	proto *tcpcheck.Ruleset
	// rules are this section's "tcp-check" lines, from rulesAt on.
	rules   []tcpcheck.Rule
	rulesAt Where
	// defRules are the defaults section's rules: "option tcp-check" uses
	// them when the backend has none of its own (HAProxy 2.2+).
	defRules   []tcpcheck.Rule
	defRulesAt Where
}

// checkConf is the current section's.
func (p *parser) checkConf() *checkConf {
	if p.sec.kind == "defaults" {
		return &p.def.chk
	}
	return &p.sec.be.chk
}

// parseTCPCheck reads one "tcp-check ACTION ..." line.
func (p *parser) parseTCPCheck(w []string) error {
	c := p.checkConf()
	if len(w) < 2 {
		return p.errf("'tcp-check' expects 'comment', 'connect', 'send', 'send-binary', 'send-lf' or 'expect' as argument")
	}
	var r tcpcheck.Rule
	var err error
	switch w[1] {
	case "connect":
		// HAProxy's rule: the rules before the first connect may only be
		// comments.
		for _, o := range c.rules {
			if o.Action == tcpcheck.ActConnect {
				break
			}
			if o.Action != tcpcheck.ActComment {
				return p.errf("'tcp-check connect' : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset")
			}
		}
		// ssl, sni and alpn run on core/engine/tlsconn (proxy/tls.go).
		r, err = tcpcheck.ParseConnect(w[2:])
	case "send", "send-binary", "send-lf", "send-binary-lf":
		r, err = tcpcheck.ParseSend(w[1], w[2:])
	case "expect":
		var e *tcpcheck.Expect
		e, err = tcpcheck.ParseExpect(w[2:])
		r = tcpcheck.Rule{Action: tcpcheck.ActExpect, Expect: e}
	case "comment":
		if len(w) != 3 {
			return p.errf("'tcp-check comment' expects a string as argument")
		}
		r = tcpcheck.Rule{Action: tcpcheck.ActComment, Comment: w[2]}
	case "set-var", "set-var-fmt", "unset-var":
		return p.errf("'tcp-check %s' is not supported: health checks have no variables here", w[1])
	default:
		return p.errf("'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'send-lf' or 'expect' but got '%s'", w[1])
	}
	if err != nil {
		return p.errf("'tcp-check %s' : %v", w[1], err)
	}
	if len(c.rules) == 0 {
		c.rulesAt = p.where()
	}
	c.rules = append(c.rules, r)
	return nil
}

// optCheck applies one health-check option: the last one in a section
// wins, as in HAProxy.
func (p *parser) optCheck(name string, on bool, args []string) error {
	c := p.checkConf()
	if !on {
		if c.opt == name {
			c.opt, c.proto = "", nil
		}
		return nil
	}
	tooMany := func(n int) error {
		if len(args) > n {
			return p.errf("'option %s' cannot handle unexpected argument '%s'", name, args[n])
		}
		return nil
	}
	var rs *tcpcheck.Ruleset
	switch name {
	case "tcp-check":
		if err := tooMany(0); err != nil {
			return err
		}
	case "redis-check":
		if err := tooMany(0); err != nil {
			return err
		}
		rs = tcpcheck.Redis()
	case "ssl-hello-chk":
		if err := tooMany(0); err != nil {
			return err
		}
		rs = tcpcheck.SSLHello()
	case "ldap-check":
		if err := tooMany(0); err != nil {
			return err
		}
		rs = tcpcheck.LDAP()
	case "smtpchk":
		if err := tooMany(2); err != nil {
			return err
		}
		cmd := ""
		if len(args) == 2 && (args[0] == "HELO" || args[0] == "EHLO") {
			cmd = args[0] + " " + args[1]
		}
		rs = tcpcheck.SMTP(cmd)
	case "mysql-check":
		if err := tooMany(3); err != nil {
			return err
		}
		user, pre41 := "", false
		if len(args) > 0 {
			if args[0] != "user" {
				return p.errf("'option mysql-check' only supports optional values: 'user' (got '%s')", args[0])
			}
			if len(args) < 2 || args[1] == "" {
				return p.errf("'option mysql-check user' expects <username> as argument")
			}
			user = args[1]
			if len(args) == 3 {
				switch args[2] {
				case "post-41":
				case "pre-41":
					pre41 = true
				default:
					return p.errf("keyword 'user' only supports 'post-41' and 'pre-41' (got '%s')", args[2])
				}
			}
		}
		rs = tcpcheck.MySQL(user, pre41)
	case "pgsql-check":
		if err := tooMany(2); err != nil {
			return err
		}
		if len(args) < 2 || args[1] == "" {
			return p.errf("'option pgsql-check' expects 'user <username>' as argument")
		}
		if args[0] != "user" {
			return p.errf("'option pgsql-check' only supports optional values: 'user'")
		}
		rs = tcpcheck.PgSQL(args[1])
	default:
		return p.errf("option %s: no health-check protocol", name)
	}
	c.opt, c.proto = name, rs
	return nil
}

// buildCheck makes be.Check from what its section said.
func (p *parser) buildCheck(be *Backend) error {
	c := &be.chk
	switch c.opt {
	case "":
		if len(c.rules) > 0 {
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{File: c.rulesAt.File, Line: c.rulesAt.Line,
				Msg: fmt.Sprintf("backend '%s' uses tcp-check rules without 'option tcp-check', so the rules are ignored", be.Name)})
		}
	case "tcp-check":
		rules, at := c.rules, c.rulesAt
		if len(rules) == 0 {
			rules, at = c.defRules, c.defRulesAt
		}
		rs, err := tcpcheck.NewRuleset("tcp-check", rules)
		if err != nil {
			return &Error{File: at.File, Line: at.Line, Msg: fmt.Sprintf("backend '%s': 'tcp-check': %v", be.Name, err)}
		}
		be.Check = rs
	default:
		be.Check = c.proto
		if len(c.rules) > 0 {
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{File: c.rulesAt.File, Line: c.rulesAt.Line,
				Msg: fmt.Sprintf("'tcp-check' rules ignored for backend '%s': 'option %s' replaces them", be.Name, c.opt)})
		}
	}
	return nil
}

// parseHashType reads "hash-type map-based|consistent [FUNCTION
// [avalanche]]". The function (sdbm, djb2, wt6, crc32, none) does not
// matter for balance source, which hashes the address itself; a
// consistent hash without a function gets the avalanche modifier, as in
// HAProxy 2.6.
func (p *parser) parseHashType(w []string) error {
	if len(w) < 2 {
		return p.errf("'hash-type' only supports 'consistent' and 'map-based'")
	}
	var ht HashType
	switch w[1] {
	case "map-based":
		ht = MapBased
	case "consistent":
		ht = Consistent
	case "avalanche":
		return p.errf("experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead")
	default:
		return p.errf("'hash-type' only supports 'consistent' and 'map-based'")
	}
	aval := ht == Consistent && len(w) < 3
	if len(w) >= 3 {
		switch w[2] {
		case "sdbm", "djb2", "wt6", "crc32", "none":
		default:
			return p.errf("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions")
		}
		if len(w) >= 4 {
			if w[3] != "avalanche" || len(w) > 4 {
				return p.errf("'hash-type' only supports 'avalanche' as a modifier for hash functions")
			}
			aval = true
		}
	}
	if p.sec.kind == "defaults" {
		p.def.hashType, p.def.avalanche = ht, aval
	} else {
		p.sec.be.HashType, p.sec.be.HashAvalanche = ht, aval
	}
	return nil
}

// assignServerIDs gives servers without an "id" the smallest free ids
// from 1 in order (HAProxy's get_next_id), and refuses a duplicate id.
func assignServerIDs(be *Backend) error {
	used := map[int]*Server{}
	for _, s := range be.Servers {
		if s.ID == 0 {
			continue
		}
		if o := used[s.ID]; o != nil {
			return &Error{File: s.Where.File, Line: s.Where.Line, Msg: fmt.Sprintf("'server %s/%s': 'id' : custom id %d already used at %s:%d ('server %s')", be.Name, s.Name, s.ID, o.Where.File, o.Where.Line, o.Name)}
		}
		used[s.ID] = s
	}
	next := 1
	for _, s := range be.Servers {
		if s.ID != 0 {
			continue
		}
		for used[next] != nil {
			next++
		}
		s.ID = next
		used[next] = s
		next++
	}
	return nil
}
