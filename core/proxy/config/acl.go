package config

import (
	"fmt"
	"net/netip"
)

// ACL is a named source-address test: "acl NAME src CIDR...". Several acl
// lines with one name add patterns to the same ACL (any pattern matches).
type ACL struct {
	Name     string
	Prefixes []netip.Prefix
	// const: the predefined TRUE and FALSE ACLs.
	always, never bool
}

// Match reports whether src falls in one of the ACL's networks.
func (a *ACL) Match(src netip.Addr) bool {
	if a.always {
		return true
	}
	if a.never {
		return false
	}
	src = src.Unmap()
	for _, p := range a.Prefixes {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// predefinedACLs are HAProxy's built-in ACLs that make sense for "src".
func predefinedACLs() map[string]*ACL {
	lo4 := netip.MustParsePrefix("127.0.0.0/8")
	lo6 := netip.MustParsePrefix("::1/128")
	return map[string]*ACL{
		"TRUE":      {Name: "TRUE", always: true},
		"FALSE":     {Name: "FALSE", never: true},
		"LOCALHOST": {Name: "LOCALHOST", Prefixes: []netip.Prefix{lo4, lo6}},
	}
}

// Term is one ACL reference in a condition, possibly negated with '!'.
type Term struct {
	Neg bool
	ACL *ACL
}

// Cond is an "if|unless" condition: terms side by side are ANDed, "||" (or
// "or") separates alternatives, as in HAProxy. A nil *Cond always holds.
type Cond struct {
	Unless bool
	Or     [][]Term
}

// Match evaluates the condition for a client source address.
func (c *Cond) Match(src netip.Addr) bool {
	if c == nil {
		return true
	}
	res := false
	for _, and := range c.Or {
		ok := true
		for _, t := range and {
			if t.ACL.Match(src) == t.Neg {
				ok = false
				break
			}
		}
		if ok {
			res = true
			break
		}
	}
	return res != c.Unless
}

// parseCond reads "if|unless TERM..." where words[0] is "if" or "unless".
// Anonymous ACLs "{ src CIDR... }" are accepted.
func parseCond(words []string, acls map[string]*ACL) (*Cond, error) {
	if len(words) == 0 {
		return nil, nil
	}
	c := &Cond{}
	switch words[0] {
	case "if":
	case "unless":
		c.Unless = true
	default:
		return nil, fmt.Errorf("expects 'if' or 'unless' followed by a condition, got %q", words[0])
	}
	words = words[1:]
	if len(words) == 0 {
		return nil, fmt.Errorf("missing condition after %q", map[bool]string{false: "if", true: "unless"}[c.Unless])
	}
	var and []Term
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "||" || w == "or" {
			if len(and) == 0 {
				return nil, fmt.Errorf("empty alternative before %q", w)
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
			a := &ACL{Name: "anonymous"}
			if err := fillACL(a, words[i+1:end]); err != nil {
				return nil, err
			}
			and = append(and, Term{Neg: neg, ACL: a})
			i = end
			continue
		}
		a, ok := acls[w]
		if !ok {
			return nil, fmt.Errorf("no such ACL: %q", w)
		}
		and = append(and, Term{Neg: neg, ACL: a})
	}
	if len(and) == 0 {
		return nil, fmt.Errorf("empty alternative at end of condition")
	}
	c.Or = append(c.Or, and)
	return c, nil
}

// fillACL adds the patterns of "src [-n] CIDR..." (words start at the
// fetch name) to a.
func fillACL(a *ACL, words []string) error {
	if len(words) == 0 {
		return fmt.Errorf("acl %q: missing fetch method", a.Name)
	}
	if words[0] != "src" {
		return fmt.Errorf("acl %q: fetch %q is not supported in mode tcp here (only 'src')", a.Name, words[0])
	}
	words = words[1:]
	n := 0
	for _, w := range words {
		switch w {
		case "-n", "--", "-i":
			continue
		case "-f", "-m", "-M", "-u":
			return fmt.Errorf("acl %q: flag %q is not supported", a.Name, w)
		}
		p, err := parsePrefix(w)
		if err != nil {
			return fmt.Errorf("acl %q: %v", a.Name, err)
		}
		a.Prefixes = append(a.Prefixes, p)
		n++
	}
	if n == 0 {
		return fmt.Errorf("acl %q: missing pattern after 'src'", a.Name)
	}
	return nil
}
