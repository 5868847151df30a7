package tcpcheck

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind is what an expect rule matches.
type Kind uint8

// Expect kinds.
const (
	String  Kind = iota + 1 // the bytes of the pattern appear in the reply
	RString                 // the regex matches the reply
	Binary                  // the hex-decoded pattern appears in the reply
	RBinary                 // the regex matches the reply's upper-case hex dump
	Custom                  // a protocol matcher (mysql-check, ldap-check)
)

var kindNames = [...]string{String: "string", RString: "rstring", Binary: "binary", RBinary: "rbinary", Custom: "custom"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Verdict is the outcome of evaluating one expect rule on the bytes
// received so far.
type Verdict uint8

// Verdicts.
const (
	Wait     Verdict = iota // more bytes may change the answer: read more
	Continue                // as expected: go on with the next rule
	Fail                    // the check failed
)

// Expect is one "tcp-check expect" rule.
type Expect struct {
	Kind   Kind
	Invert bool // "!": the check fails if the pattern matches
	// Pattern is the text as configured (a string, a hex string or a
	// regex source), for messages.
	Pattern string
	// bytes is what String and Binary look for.
	bytes []byte
	re    *regexp.Regexp
	// MinRecv is the number of bytes to wait for before matching; -1
	// (unset) waits on a mismatch until the reply ends or the buffer is
	// full, as HAProxy does.
	MinRecv int
	// OKStatus, ErrStatus and ToutStatus replace the default statuses
	// (L7OK, L7RSP, L7TOUT); StatusUnknown keeps the default.
	OKStatus, ErrStatus, ToutStatus Status
	// OnSuccess and OnError are texts for the log, used verbatim (HAProxy
	// evaluates them as log-format strings; "%[...]" is not expanded here).
	OnSuccess, OnError string
	Comment            string
	// custom matches for Kind Custom: the verdict, the status on failure
	// (or success, for the last rule) and a description.
	custom func(buf []byte, lastRead bool) (Verdict, Status, string)
	// head is the index, in its ruleset, of the first expect of the run of
	// consecutive expects this one belongs to: a rule that waits resumes
	// there once more bytes arrived (HAProxy's expect.head).
	head int
}

// ParseExpect parses the words after "tcp-check expect": options
// (min-recv N, comment C, ok-status S, error-status S, tout-status S,
// on-success T, on-error T) in any order and one [!]KIND PATTERN, with
// HAProxy's rules and messages (src/tcpcheck.c parse_tcpcheck_expect).
func ParseExpect(args []string) (*Expect, error) {
	e := &Expect{MinRecv: -1}
	kind := Kind(0)
	pattern := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		inPattern := false
	rescan:
		value := func() (string, error) {
			if i+1 >= len(args) || args[i+1] == "" {
				return "", fmt.Errorf("'%s' expects an argument", a)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "min-recv":
			if inPattern {
				return nil, fmt.Errorf("[!] not supported with '%s'", a)
			}
			v, err := value()
			if err != nil {
				return nil, fmt.Errorf("'%s' expects a integer as argument", a)
			}
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < -1 {
				return nil, fmt.Errorf("'%s' expects -1 or an integer from 0 to INT_MAX", a)
			}
			e.MinRecv = int(n)
		case strings.HasPrefix(a, "!"):
			inPattern = true
			for strings.HasPrefix(a, "!") {
				e.Invert = !e.Invert
				a = a[1:]
			}
			if a == "" {
				i++
				if i >= len(args) {
					return nil, fmt.Errorf("a pattern is required after '!'")
				}
				a = args[i]
			}
			goto rescan
		case a == "string" || a == "rstring" || a == "binary" || a == "rbinary":
			if kind != 0 {
				return nil, fmt.Errorf("only on pattern expected")
			}
			kind = map[string]Kind{"string": String, "rstring": RString, "binary": Binary, "rbinary": RBinary}[a]
			v, err := value()
			if err != nil {
				return nil, fmt.Errorf("'%s' expects a <pattern> as argument", a)
			}
			pattern = v
		case a == "string-lf" || a == "binary-lf":
			return nil, fmt.Errorf("'%s' is not supported: log-format patterns are not evaluated by this proxy", a)
		case a == "custom":
			return nil, fmt.Errorf("'custom' is internal to HAProxy's protocol checks")
		case a == "status-code":
			return nil, fmt.Errorf("'status-code' is not supported: sample expressions are not evaluated in health checks here")
		case a == "comment" || a == "on-success" || a == "on-error" || a == "ok-status" || a == "error-status" || a == "tout-status":
			if inPattern {
				return nil, fmt.Errorf("[!] not supported with '%s'", a)
			}
			v, err := value()
			if err != nil {
				return nil, fmt.Errorf("'%s' expects a string as argument", a)
			}
			switch a {
			case "comment":
				e.Comment = v
			case "on-success":
				e.OnSuccess = v
			case "on-error":
				e.OnError = v
			case "ok-status":
				e.OKStatus, err = parseStatus(a, v, L4OK, L6OK, L7OK, L7OKC)
			case "error-status":
				e.ErrStatus, err = parseStatus(a, v, L4CON, L6RSP, L7RSP, L7STS)
			case "tout-status":
				e.ToutStatus, err = parseStatus(a, v, L4TOUT, L6TOUT, L7TOUT)
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("only supports min-recv, [!]string, [!]rstring, [!]binary, [!]rbinary, comment, ok-status, error-status, tout-status, on-error or on-success but got '%s' as argument", a)
		}
	}
	if kind == 0 {
		return nil, fmt.Errorf("expects a pattern: [!]string, [!]rstring, [!]binary or [!]rbinary")
	}
	if err := e.setPattern(kind, pattern); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Expect) setPattern(kind Kind, pattern string) error {
	e.Kind, e.Pattern = kind, pattern
	switch kind {
	case String:
		e.bytes = []byte(pattern)
	case Binary:
		b, err := ParseHex(pattern)
		if err != nil {
			return fmt.Errorf("'binary' invalid binary string (%v)", err)
		}
		e.bytes = b
	case RString, RBinary:
		re, err := regexp.Compile(pattern)
		if err != nil {
			return fmt.Errorf("'%s': invalid regex '%s': %v", kind, pattern, err)
		}
		e.re = re
	}
	return nil
}

// ParseHex decodes a hex string (HAProxy's parse_binary): an even number
// of hex digits, either case.
func ParseHex(s string) ([]byte, error) {
	if len(s) == 0 {
		return nil, fmt.Errorf("empty string")
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("an odd number of hex digits (%d)", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a hex string", s)
	}
	return b, nil
}

// Eval evaluates the rule on buf, every byte received since the last send
// (or connect). lastRead means no more bytes will come (the server ended
// its side, the connection failed after some data, or buf is full). It
// returns the verdict and, on Fail, the status and a description.
func (e *Expect) Eval(buf []byte, lastRead bool) (Verdict, Status, string) {
	return e.eval(buf, nil, lastRead)
}

// eval is Eval with the reply's hex dump, when the caller keeps one up to
// date (the Runner extends it as bytes arrive instead of re-encoding the
// whole reply at each evaluation); nil: computed here.
func (e *Expect) eval(buf, hexDump []byte, lastRead bool) (Verdict, Status, string) {
	if e.Kind == Custom {
		v, st, d := e.custom(buf, lastRead)
		if v == Wait && lastRead {
			return Fail, L7RSP, "truncated response"
		}
		return v, st, d
	}
	if !lastRead {
		if (e.Kind == String || e.Kind == Binary) && len(buf) < len(e.bytes) {
			return Wait, 0, ""
		}
		if e.MinRecv > 0 && len(buf) < e.MinRecv {
			return Wait, 0, ""
		}
	}
	var match bool
	switch e.Kind {
	case String, Binary:
		match = bytes.Contains(buf, e.bytes)
	case RString:
		match = e.re.Match(buf)
	case RBinary:
		if hexDump == nil {
			hexDump = appendHexUpper(nil, buf)
		}
		match = e.re.Match(hexDump)
	}
	// Without min-recv a mismatch may still become a match with more
	// bytes; with it, the answer on min-recv bytes is final.
	if !match && !lastRead && e.MinRecv == -1 {
		return Wait, 0, ""
	}
	if match != e.Invert {
		return Continue, 0, ""
	}
	st := e.ErrStatus
	if st == StatusUnknown {
		st = L7RSP
	}
	return Fail, st, e.failText(match)
}

// failText is HAProxy's message for a failed expect (or on-error's text).
func (e *Expect) failText(matched bool) string {
	if e.OnError != "" {
		return e.OnError
	}
	verb := "did not match"
	if matched {
		verb = "matched unwanted"
	}
	var what string
	switch e.Kind {
	case String:
		what = "content '" + e.Pattern + "'"
	case Binary:
		what = "binary '" + strings.ToUpper(e.Pattern) + "'"
	case RString:
		what = "regex '" + e.Pattern + "'"
	case RBinary:
		what = "binary regex '" + e.Pattern + "'"
	}
	return "TCPCHK " + verb + " " + what
}

// appendHexUpper is HAProxy's dump_binary: two upper-case hex digits per
// byte, appended to dst.
func appendHexUpper(dst, b []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range b {
		dst = append(dst, digits[c>>4], digits[c&15])
	}
	return dst
}

// String is the rule as a configuration line would write it.
func (e *Expect) String() string {
	var b strings.Builder
	b.WriteString("expect ")
	if e.MinRecv >= 0 {
		fmt.Fprintf(&b, "min-recv %d ", e.MinRecv)
	}
	if e.Invert {
		b.WriteByte('!')
	}
	b.WriteString(e.Kind.String())
	if e.Kind != Custom {
		b.WriteString(" " + e.Pattern)
	}
	return b.String()
}
