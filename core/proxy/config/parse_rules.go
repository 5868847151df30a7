package config

import (
	"sort"
	"strings"
)

// The "tcp-request" keyword: inspect-delay, and the connection and content
// rule sets. Actions are a table; a new one is one entry.

// ruleSet is a set of tcp-request rule sets.
type ruleSet uint8

const (
	setConnection ruleSet = 1 << iota
	setContent
)

// tcpAction is one action of the tcp-request rules.
type tcpAction struct {
	sets ruleSet
	// parse reads the action's own arguments (w[0] is the action, the
	// condition is not included) into r.
	parse func(p *parser, r *TCPRule, w []string) error
}

var tcpActions = map[string]tcpAction{
	"accept": {sets: setConnection | setContent, parse: simpleAction(Accept)},
	"reject": {sets: setConnection | setContent, parse: simpleAction(Reject)},
	// Stick tables (stick_rules.go).
	"silent-drop": {sets: setConnection | setContent, parse: simpleAction(SilentDrop)},
	"track-sc0":   {sets: setConnection | setContent, parse: (*parser).parseTrackAction},
	"track-sc1":   {sets: setConnection | setContent, parse: (*parser).parseTrackAction},
	"track-sc2":   {sets: setConnection | setContent, parse: (*parser).parseTrackAction},
	"sc-inc-gpc0": {sets: setConnection | setContent, parse: (*parser).parseIncGPC0},
}

func simpleAction(a Action) func(p *parser, r *TCPRule, w []string) error {
	return func(p *parser, r *TCPRule, w []string) error {
		if len(w) > 1 {
			return p.errf("'tcp-request %s %s' only accepts 'if' or 'unless' (got '%s')", p.ruleSetName, w[0], w[1])
		}
		r.Action = a
		return nil
	}
}

// actionNames lists the actions of a rule set for messages: "a, b or c".
func actionNames(set ruleSet) string {
	var n []string
	for k, a := range tcpActions {
		if a.sets&set != 0 {
			n = append(n, k)
		}
	}
	sort.Strings(n)
	if len(n) == 1 {
		return n[0]
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

func (p *parser) parseTCPRequest(w []string) error {
	s := p.sec
	if len(w) < 2 {
		return p.errf("'tcp-request' expects 'inspect-delay', 'connection' or 'content'")
	}
	switch w[1] {
	case "inspect-delay":
		return p.parseInspectDelay(w)
	case "connection":
		if s.fe == nil {
			p.warnf("'tcp-request connection' ignored because backend '%s' has no frontend capability", s.name)
			return nil
		}
		r, err := p.parseTCPRule(w, setConnection)
		if err != nil {
			return err
		}
		for _, msg := range r.Cond.neverIn(PhaseConnection, "tcp-request connection", "frontend tcp-request connection rule") {
			p.warnf("%s", msg)
		}
		s.fe.TCPRules = append(s.fe.TCPRules, r)
		return nil
	case "content":
		r, err := p.parseTCPRule(w, setContent)
		if err != nil {
			return err
		}
		if s.fe != nil {
			s.fe.ContentRules = append(s.fe.ContentRules, r)
		} else {
			s.be.ContentRules = append(s.be.ContentRules, r)
		}
		return nil
	case "session":
		return p.errf("'tcp-request session' rules are not supported (use 'tcp-request connection' or 'tcp-request content')")
	}
	return p.errf("'tcp-request' expects 'inspect-delay', 'connection' or 'content' (got '%s')", w[1])
}

func (p *parser) parseInspectDelay(w []string) error {
	s := p.sec
	if len(w) < 3 {
		return p.errf("'tcp-request inspect-delay' expects a positive delay in milliseconds")
	}
	// HAProxy ignores words after the delay.
	d, err := parseTime(w[2])
	if err != nil {
		return p.errf("tcp-request inspect-delay: %v", err)
	}
	if s.fe != nil {
		s.fe.InspectDelay = d
	} else {
		s.be.InspectDelay = d
	}
	return nil
}

// parseTCPRule reads "tcp-request SET ACTION [args] [if|unless COND]".
func (p *parser) parseTCPRule(w []string, set ruleSet) (TCPRule, error) {
	p.ruleSetName = w[1]
	r := TCPRule{Where: p.where()}
	if len(w) < 3 {
		return r, p.errf("tcp-request %s: missing action (%s)", w[1], actionNames(set))
	}
	name := w[2]
	if i := strings.IndexByte(name, '('); i > 0 {
		name = name[:i] // sc-inc-gpc0(N)
	}
	a, ok := tcpActions[name]
	if !ok && len(name) == 9 && strings.HasPrefix(name, "track-sc") && name[8] >= '3' && name[8] <= '9' {
		// HAProxy 2.6 has counters 0..2 and says so (stick_rules.go).
		return r, p.parseTrackAction(&r, w[2:])
	}
	if !ok || a.sets&set == 0 {
		return r, p.errf("tcp-request %s: action '%s' is not supported (%s)", w[1], w[2], actionNames(set))
	}
	end := len(w)
	for i := 3; i < len(w); i++ {
		if w[i] == "if" || w[i] == "unless" {
			end = i
			break
		}
	}
	if err := a.parse(p, &r, w[2:end]); err != nil {
		return r, err
	}
	c, err := parseCond(w[end:], p.sec.acls, p.warnHere)
	if err != nil {
		return r, p.errf("tcp-request %s %s: %v", w[1], w[2], err)
	}
	r.Cond = c
	return r, nil
}

// warnHere adds a warning at the current line.
func (p *parser) warnHere(msg string) { p.warnf("%s", msg) }
