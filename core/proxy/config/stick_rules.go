package config

import (
	"fmt"
	"strings"

	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// Stick-table rules: "tcp-request connection|content track-scN KEY
// [table T]", "sc-inc-gpc0(N)", "silent-drop", and the backend's "stick
// on|match|store-request|store-response KEY [table T] [if|unless COND]".

// maxSC is HAProxy's MAX_SESS_STKCTR: stick counters sc0, sc1 and sc2.
const maxSC = 3

// StickKind is what a "stick" rule does.
type StickKind uint8

// Stick rule kinds.
const (
	// StickOn is "stick on": match, then store.
	StickOn StickKind = iota
	// StickMatch looks the key up and sends the session to the stored
	// server if it is usable.
	StickMatch
	// StickStoreRequest stores the server the session goes to.
	StickStoreRequest
	// StickStoreResponse stores it too; here it is stored when the
	// server connection is established (the key fetches are request-side
	// in mode tcp, so the stored value is the same).
	StickStoreResponse
)

func (k StickKind) String() string {
	return [...]string{"on", "match", "store-request", "store-response"}[k]
}

// Matches: the rule looks the key up; Stores: it stores the server.
func (k StickKind) Matches() bool { return k == StickOn || k == StickMatch }
func (k StickKind) Stores() bool  { return k != StickMatch }

// StickRule is one "stick" line of a backend.
type StickRule struct {
	Kind      StickKind
	Key       *SampleExpr
	Table     *StickTable
	Cond      *Cond
	Where     Where
	tableName string
}

// parseTrackAction reads "track-scN KEY [table T]" (w[0] is the action).
func (p *parser) parseTrackAction(r *TCPRule, w []string) error {
	n := int(w[0][len("track-sc")] - '0')
	label := fmt.Sprintf("'tcp-request %s %s'", p.ruleSetName, w[0])
	if n >= maxSC {
		return p.errf("%s : %d track-sc number exceeding %d (MAX_SESS_STKCTR-1) value", label, n, maxSC-1)
	}
	if len(w) < 2 {
		return p.errf("%s : missing fetch method", label)
	}
	x, err := parseSampleExpr(w[1])
	if err != nil {
		return p.errf("%s : %v", label, err)
	}
	set := PhaseConnection
	if p.ruleSetName == "content" {
		set = PhaseContent
	}
	if x.Fetch.phase > set {
		return p.errf("%s : fetch method '%s' extracts information from 'request buffer', none of which is available here", label, x.Fetch.name)
	}
	r.Action, r.SC, r.TrackKey = TrackSC, n, x
	rest := w[2:]
	if len(rest) >= 1 && rest[0] == "table" {
		if len(rest) < 2 {
			return p.errf("%s : missing table name after 'table'", label)
		}
		r.tableName = rest[1]
		rest = rest[2:]
	}
	if len(rest) > 0 {
		return p.errf("%s only accepts 'if' or 'unless', in %s (got '%s')", label, p.sec.who(), rest[0])
	}
	return nil
}

// parseIncGPC0 reads "sc-inc-gpc0[(N)]".
func (p *parser) parseIncGPC0(r *TCPRule, w []string) error {
	n := 0
	if arg, ok := strings.CutPrefix(w[0], "sc-inc-gpc0("); ok {
		v, err := parseInt(strings.TrimSuffix(arg, ")"), 1<<20)
		if err != nil || !strings.HasSuffix(arg, ")") || v >= maxSC {
			return p.errf("invalid stick table track ID. The max allowed ID is %d", maxSC-1)
		}
		n = v
	} else if w[0] != "sc-inc-gpc0" {
		return p.errf("tcp-request %s: action '%s' is not supported", p.ruleSetName, w[0])
	}
	if len(w) > 1 {
		return p.errf("'tcp-request %s %s' only accepts 'if' or 'unless', in %s (got '%s')", p.ruleSetName, w[0], p.sec.who(), w[1])
	}
	r.Action, r.SC = IncGPC0, n
	return nil
}

// parseStick reads "stick on|match|store-request|store-response KEY
// [table T] [if|unless COND]".
func (p *parser) parseStick(w []string) error {
	s := p.sec
	if len(w) < 2 {
		return p.errf("'stick' expects 'on', 'match', or 'store'.")
	}
	r := StickRule{Where: p.where()}
	switch w[1] {
	case "on":
		r.Kind = StickOn
	case "match":
		r.Kind = StickMatch
	case "store-request":
		r.Kind = StickStoreRequest
	case "store-response":
		r.Kind = StickStoreResponse
	default:
		return p.errf("'stick' expects 'on', 'match', or 'store'.")
	}
	if len(w) < 3 || w[2] == "if" || w[2] == "unless" || w[2] == "table" {
		return p.errf("'stick' expects a fetch method.")
	}
	x, err := parseSampleExpr(w[2])
	if err != nil {
		return p.errf("'stick': %v", err)
	}
	if x.Fetch.phase > PhaseContent {
		return p.errf("'stick': fetch method '%s' is not available here", x.Fetch.name)
	}
	r.Key = x
	i := 3
	if i < len(w) && w[i] == "table" {
		if i+1 >= len(w) {
			return p.errf("'stick': missing table name after 'table'.")
		}
		r.tableName = w[i+1]
		i += 2
	}
	if i < len(w) && w[i] != "if" && w[i] != "unless" {
		return p.errf("'stick': unknown keyword %q.", w[i])
	}
	c, err := parseCond(w[i:], s.acls, p.warnHere)
	if err != nil {
		return p.errf("'stick %s': %v", w[1], err)
	}
	r.Cond = c
	s.be.StickRules = append(s.be.StickRules, r)
	return nil
}

// finishStick resolves table names once every section is read, with
// HAProxy's messages: a rule's default table is its proxy's own.
func (p *parser) finishStick() error {
	c := p.cfg
	errAt := func(w Where, format string, args ...any) error {
		return &Error{File: w.File, Line: w.Line, Msg: oneLine(fmt.Sprintf(format, args...))}
	}
	tracks := func(proxy string, rules []TCPRule) error {
		for i := range rules {
			r := &rules[i]
			if r.Action != TrackSC {
				continue
			}
			name := r.tableName
			if name == "" {
				name = proxy
			}
			if r.Table = c.Table(name); r.Table == nil {
				return errAt(r.Where, "Proxy '%s': unable to find table '%s' referenced by track-sc%d.%s", proxy, name, r.SC, peersHint(name))
			}
		}
		return nil
	}
	for _, fe := range c.Frontends {
		if err := tracks(fe.Name, fe.TCPRules); err != nil {
			return err
		}
		if err := tracks(fe.Name, fe.ContentRules); err != nil {
			return err
		}
	}
	for _, be := range c.Backends {
		if err := tracks(be.Name, be.ContentRules); err != nil {
			return err
		}
		for i := range be.StickRules {
			r := &be.StickRules[i]
			name := r.tableName
			if name == "" {
				name = be.Name
			}
			if r.Table = c.Table(name); r.Table == nil {
				return errAt(r.Where, "Proxy '%s': unable to find stick-table '%s'.%s", be.Name, name, peersHint(name))
			}
			// HAProxy adds server_id and server_key to a table that
			// persistence uses.
			_, _ = r.Table.Stores.Add(sticktable.ServerID, 0)
			_, _ = r.Table.Stores.Add(sticktable.ServerKey, 0)
		}
	}
	return p.finishStickFetches()
}

// finishStickFetches checks the table argument of the stick-counter
// fetches in every condition, and makes the default explicit: a src_*
// fetch without a table reads the table of the proxy holding the rule.
func (p *parser) finishStickFetches() error {
	c := p.cfg
	var err error
	visit := func(proxy string, w Where, cond *Cond) {
		if cond == nil || err != nil {
			return
		}
		for _, and := range cond.Or {
			for _, t := range and {
				for _, x := range t.ACL.Exprs {
					if e := resolveStickArgs(c, proxy, x.Sample); e != nil && err == nil {
						err = &Error{File: w.File, Line: w.Line, Msg: oneLine(e.Error())}
					}
				}
			}
		}
	}
	rules := func(proxy string, rs []TCPRule) {
		for i := range rs {
			visit(proxy, rs[i].Where, rs[i].Cond)
			if rs[i].TrackKey != nil {
				if e := resolveStickArgs(c, proxy, rs[i].TrackKey); e != nil && err == nil {
					err = &Error{File: rs[i].Where.File, Line: rs[i].Where.Line, Msg: oneLine(e.Error())}
				}
			}
		}
	}
	for _, fe := range c.Frontends {
		rules(fe.Name, fe.TCPRules)
		rules(fe.Name, fe.ContentRules)
		for _, u := range fe.UseBackends {
			visit(fe.Name, u.Where, u.Cond)
		}
	}
	for _, be := range c.Backends {
		rules(be.Name, be.ContentRules)
		for _, r := range be.StickRules {
			visit(be.Name, r.Where, r.Cond)
			if e := resolveStickArgs(c, be.Name, r.Key); e != nil && err == nil {
				err = &Error{File: r.Where.File, Line: r.Where.Line, Msg: oneLine(e.Error())}
			}
		}
	}
	return err
}

// peersHint explains a missing "SECTION/TABLE": a table declared in a
// peers section, which this proxy ignores.
func peersHint(name string) string {
	if strings.Contains(name, "/") {
		return " (tables declared in 'peers' sections are not supported: peers sections are ignored)"
	}
	return ""
}
