package config

import (
	"fmt"
	"net/netip"
)

// ACL is a named test: "acl NAME fetch [flags] patterns...". Several acl
// lines with one name add expressions to the same ACL; it matches when any
// of them does (HAProxy's rule).
type ACL struct {
	Name  string
	Exprs []*Expr
}

// Result is HAProxy's three-state ACL result.
type Result uint8

// Results. The values make AND and OR bitwise (HAProxy's ACL_TEST_*).
const (
	Fail Result = 0 // does not match
	Miss Result = 1 // cannot tell yet: the data may still change
	Pass Result = 3 // matches
)

func (r Result) String() string {
	switch r {
	case Pass:
		return "pass"
	case Miss:
		return "miss"
	}
	return "fail"
}

func (r Result) neg() Result {
	switch r {
	case Pass:
		return Fail
	case Fail:
		return Pass
	}
	return Miss
}

// maxValues bounds the values one multi-valued fetch gives to one
// expression (a guard: req.ssl_alpn has at most a few hundred).
const maxValues = 4096

// eval is HAProxy's acl_exec_cond for one ACL: the expressions are ORed; a
// missing or non-matching sample that may still change is a Miss unless
// the data is final.
func (a *ACL) eval(e *Env) Result {
	res := Fail
	smp := &e.smp
	for _, x := range a.Exprs {
		smp.Ctx = 0
		for n := 0; ; n++ {
			if !x.Sample.Eval(e, smp) {
				if smp.MayChange && !e.Final {
					res |= Miss
				}
				break
			}
			if x.match(smp) {
				return Pass
			}
			if smp.NotLast && n < maxValues {
				continue // the fetch's next value
			}
			if smp.MayChange && !e.Final {
				res |= Miss
			}
			break
		}
	}
	return res
}

// predefinedACLs are HAProxy's built-in ACLs that make sense in mode tcp.
func predefinedACLs() map[string]*ACL {
	mk := func(name string, words ...string) *ACL {
		x, _, err := parseExpr(words)
		if err != nil {
			panic("config: predefined ACL " + name + ": " + err.Error())
		}
		return &ACL{Name: name, Exprs: []*Expr{x}}
	}
	return map[string]*ACL{
		"TRUE":        mk("TRUE", "always_true"),
		"FALSE":       mk("FALSE", "always_false"),
		"LOCALHOST":   mk("LOCALHOST", "src", "127.0.0.1/8", "::1"),
		"REQ_CONTENT": mk("REQ_CONTENT", "req.len", "gt", "0"),
		"WAIT_END":    mk("WAIT_END", "wait_end"),
	}
}

// Term is one ACL reference in a condition, possibly negated with '!'.
type Term struct {
	Neg bool
	ACL *ACL
	// anon: written inline as "{ fetch ... }".
	anon bool
}

// Cond is an "if|unless" condition: terms side by side are ANDed, "||" (or
// "or") separates alternatives, as in HAProxy. A nil *Cond always holds.
type Cond struct {
	Unless bool
	Or     [][]Term
}

// Eval evaluates the condition in e and applies if/unless: Pass when the
// rule applies, Fail when it does not, Miss when it cannot tell until more
// request data arrives (never when e.Final).
func (c *Cond) Eval(e *Env) Result {
	if c == nil {
		return Pass
	}
	res := Fail
	for _, and := range c.Or {
		suite := Pass
		for _, t := range and {
			r := t.ACL.eval(e)
			if t.Neg {
				r = r.neg()
			}
			suite &= r
			if suite != Pass {
				break // ANDed: a Fail or a Miss is enough
			}
		}
		res |= suite
		if res == Pass {
			break
		}
	}
	if res == Miss {
		return Miss
	}
	if (res == Pass) != c.Unless {
		return Pass
	}
	return Fail
}

// Holds evaluates the condition on final data: true when the rule
// applies.
func (c *Cond) Holds(s SampleSource, ph Phase) bool {
	return c.Eval(&Env{S: s, Phase: ph, Final: true}) == Pass
}

// Match evaluates the condition for a client source address alone, as a
// "tcp-request connection" rule sees it.
func (c *Cond) Match(src netip.Addr) bool {
	return c.Holds(sourceAddr(src), PhaseConnection)
}

// neverIn lists HAProxy's warnings for the terms of c that can never
// match in the rule set ph (they only use fetches of a later phase).
// rule names the rule set, as in "frontend tcp-request connection rule".
func (c *Cond) neverIn(ph Phase, ruleSet, rule string) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, and := range c.Or {
		for _, t := range and {
			late := ""
			for _, x := range t.ACL.Exprs {
				if x.Sample.Fetch.phase <= ph {
					late = ""
					break
				}
				late = x.Sample.Fetch.name
			}
			if late == "" {
				continue
			}
			if t.anon {
				out = append(out, fmt.Sprintf("anonymous acl will never match in '%s' because it uses keyword '%s' which is incompatible with '%s'", ruleSet, late, rule))
			} else {
				out = append(out, fmt.Sprintf("acl '%s' will never match in '%s' because it only involves keywords that are incompatible with '%s'", t.ACL.Name, ruleSet, rule))
			}
		}
	}
	return out
}

// parseCond reads "if|unless TERM..." where words[0] is "if" or "unless".
// Anonymous ACLs "{ fetch [flags] patterns... }" are accepted. warn
// receives HAProxy's warnings (an anonymous ACL without patterns).
func parseCond(words []string, acls map[string]*ACL, warn func(string)) (*Cond, error) {
	if len(words) == 0 {
		return nil, nil
	}
	c := &Cond{}
	switch words[0] {
	case "if":
	case "unless":
		c.Unless = true
	default:
		return nil, fmt.Errorf("expects 'if' or 'unless' followed by a condition, got '%s'", words[0])
	}
	words = words[1:]
	if len(words) == 0 {
		return nil, fmt.Errorf("missing condition after '%s'", map[bool]string{false: "if", true: "unless"}[c.Unless])
	}
	var and []Term
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "||" || w == "or" {
			if len(and) == 0 {
				return nil, fmt.Errorf("empty alternative before '%s'", w)
			}
			c.Or = append(c.Or, and)
			and = nil
			continue
		}
		neg := false
		if w == "!" {
			neg = true
			i++
			if i >= len(words) {
				return nil, fmt.Errorf("missing ACL after '!'")
			}
			w = words[i]
		} else if len(w) > 1 && w[0] == '!' {
			neg, w = true, w[1:]
		}
		if w == "{" {
			end := i + 1
			for end < len(words) && words[end] != "}" {
				end++
			}
			if end >= len(words) {
				return nil, fmt.Errorf("missing '}' after anonymous ACL")
			}
			x, xw, err := parseExpr(words[i+1 : end])
			if err != nil {
				return nil, fmt.Errorf("anonymous acl: %v", err)
			}
			if xw != "" && warn != nil {
				warn("anonymous acl: " + xw)
			}
			and = append(and, Term{Neg: neg, ACL: &ACL{Name: "anonymous", Exprs: []*Expr{x}}, anon: true})
			i = end
			continue
		}
		a, ok := acls[w]
		if !ok {
			return nil, fmt.Errorf("no such ACL: '%s'", w)
		}
		and = append(and, Term{Neg: neg, ACL: a})
	}
	if len(and) == 0 {
		return nil, fmt.Errorf("empty alternative at end of condition")
	}
	c.Or = append(c.Or, and)
	return c, nil
}

// fillACL adds the expression "fetch [flags] patterns..." (words start at
// the fetch name) to a; warn is set when it can never match.
func fillACL(a *ACL, words []string) (warn string, err error) {
	x, w, err := parseExpr(words)
	if err != nil {
		return "", fmt.Errorf("acl '%s': %v", a.Name, err)
	}
	a.Exprs = append(a.Exprs, x)
	if w != "" {
		w = fmt.Sprintf("acl '%s': %s", a.Name, w)
	}
	return w, nil
}
