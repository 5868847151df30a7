package tcpcheck

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Action is what a rule does.
type Action uint8

// Actions.
const (
	ActConnect Action = iota + 1
	ActSend
	ActExpect
	ActComment
)

// Rule is one step of a check.
type Rule struct {
	Action  Action
	Comment string
	Connect Connect  // ActConnect
	Send    []byte   // ActSend: the bytes to send
	Expect  *Expect  // ActExpect
	sendFn  sendFunc // ActSend with content built at send time (ssl-hello-chk's date)
}

type sendFunc func(now time.Time) []byte

// Connect is a "tcp-check connect" rule.
type Connect struct {
	// Default: take the server's check settings (check-send-proxy,
	// check-ssl) for what the rule does not set; the implicit connect
	// a ruleset starts with is a default one.
	Default bool
	// Port and Addr redirect this connection; 0/"" fall back to the
	// server's check port/addr, then to its address. Addr may carry a
	// port ("host:port").
	Port      int
	Addr      string
	SendProxy bool
	// SSL, SNI and ALPN ask for TLS on the check connection.
	SSL       bool
	SNI, ALPN string
	Linger    bool
	// Implicit: not written in the configuration (a ruleset whose first
	// rule is not a connect starts with one).
	Implicit bool
}

// ParseConnect parses the words after "tcp-check connect".
func ParseConnect(args []string) (Rule, error) {
	r := Rule{Action: ActConnect}
	c := &r.Connect
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func(what string) (string, error) {
			if i+1 >= len(args) || args[i+1] == "" {
				return "", fmt.Errorf("'%s' expects %s as argument", a, what)
			}
			i++
			return args[i], nil
		}
		switch a {
		case "default":
			c.Default = true
		case "linger":
			c.Linger = true
		case "send-proxy":
			c.SendProxy = true
		case "ssl":
			c.SSL = true
		case "port":
			v, err := value("a port number")
			if err != nil {
				return r, err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return r, fmt.Errorf("'port': sample expressions are not supported, expects a valid TCP port (from range 1 to 65535), got %s", v)
			}
			if n < 1 || n > 65535 {
				return r, fmt.Errorf("expects a valid TCP port (from range 1 to 65535) or a sample expression, got %s", v)
			}
			c.Port = n
		case "addr":
			v, err := value("<ipv4|ipv6>")
			if err != nil {
				return r, err
			}
			if err := checkAddr(v); err != nil {
				return r, fmt.Errorf("'addr' : %v", err)
			}
			c.Addr = v
		case "sni":
			v, err := value("a host name")
			if err != nil {
				return r, err
			}
			c.SNI = v
		case "alpn":
			v, err := value("a protocol list")
			if err != nil {
				return r, err
			}
			c.ALPN = v
		case "comment":
			v, err := value("a string")
			if err != nil {
				return r, err
			}
			r.Comment = v
		case "proto", "via-socks4":
			return r, fmt.Errorf("'%s' is not supported", a)
		default:
			return r, fmt.Errorf("expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn', 'linger' or 'default' but got '%s' as argument", a)
		}
	}
	return r, nil
}

// checkAddr accepts an IP address, optionally with a port (IPv6 then
// bracketed).
func checkAddr(s string) error {
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port in '%s'", s)
		}
		host = h
	}
	if net.ParseIP(strings.Trim(host, "[]")) == nil {
		return fmt.Errorf("invalid address: '%s'", s)
	}
	return nil
}

// ParseSend parses "tcp-check send|send-binary|send-lf DATA [comment C]"
// (kw is the action word). send-lf is taken only for text without a
// "%" sequence: this proxy does not evaluate log-format strings.
func ParseSend(kw string, args []string) (Rule, error) {
	r := Rule{Action: ActSend}
	if len(args) == 0 || args[0] == "" {
		return r, fmt.Errorf("'%s' expects a <data> as argument", kw)
	}
	switch kw {
	case "send":
		r.Send = []byte(args[0])
	case "send-binary":
		b, err := ParseHex(args[0])
		if err != nil {
			return r, fmt.Errorf("'%s' invalid binary string (%v)", kw, err)
		}
		r.Send = b
	case "send-lf":
		if strings.Contains(args[0], "%") {
			return r, fmt.Errorf("'%s': log-format sequences ('%%...') are not supported; use 'send'", kw)
		}
		r.Send = []byte(args[0])
	default:
		return r, fmt.Errorf("'%s' is not supported: log-format strings are not evaluated by this proxy", kw)
	}
	rest := args[1:]
	for len(rest) > 0 {
		if rest[0] != "comment" {
			return r, fmt.Errorf("'%s' only supports 'comment' but got '%s' as argument", kw, rest[0])
		}
		if len(rest) < 2 {
			return r, fmt.Errorf("'comment' expects a string as argument")
		}
		r.Comment, rest = rest[1], rest[2:]
	}
	return r, nil
}

// Ruleset is a check: its rules in order, starting with a connect.
type Ruleset struct {
	// Name is the option that made it: "tcp-check", "redis-check", ...
	Name  string
	Rules []Rule
}

// NewRuleset checks rules as HAProxy does (a ruleset with a connect rule
// must start with one, comments aside), adds the implicit connect when
// the first rule is not one, and links consecutive expects.
func NewRuleset(name string, rules []Rule) (*Ruleset, error) {
	first := -1
	hasConnect := false
	for i, r := range rules {
		if r.Action == ActConnect {
			hasConnect = true
		}
		if first < 0 && r.Action != ActComment {
			first = i
		}
	}
	if hasConnect && rules[first].Action != ActConnect {
		return nil, fmt.Errorf("first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset")
	}
	all := make([]Rule, 0, len(rules)+1)
	if first < 0 || rules[first].Action != ActConnect {
		all = append(all, Rule{Action: ActConnect, Connect: Connect{Default: true, Implicit: true}})
	}
	all = append(all, rules...)
	head := -1
	for i := range all {
		switch all[i].Action {
		case ActExpect:
			if head < 0 {
				head = i
			}
			e := *all[i].Expect // rulesets share parsed rules: each gets its own head
			e.head = head
			all[i].Expect = &e
		case ActComment:
		default:
			head = -1
		}
	}
	return &Ruleset{Name: name, Rules: all}, nil
}

// FirstConnect is the ruleset's first connect rule (nil for a nil
// ruleset).
func (rs *Ruleset) FirstConnect() *Connect {
	if rs == nil {
		return nil
	}
	for i := range rs.Rules {
		if rs.Rules[i].Action == ActConnect {
			return &rs.Rules[i].Connect
		}
	}
	return nil
}

// step is HAProxy's step number of rule i (1-based, the implicit connect
// being step 1 as in its messages).
func step(i int) int { return i + 1 }
