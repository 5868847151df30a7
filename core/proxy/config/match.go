package config

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// MatchKind is an ACL matching method ("-m NAME").
type MatchKind uint8

// Matching methods (HAProxy's PAT_MATCH_*).
const (
	MatchBool MatchKind = iota
	MatchInt
	MatchIP
	MatchStr
	MatchBeg
	MatchEnd
	MatchSub
	MatchReg
	MatchFound
	MatchLen
	MatchBin
)

var matchNames = map[string]MatchKind{
	"bool": MatchBool, "int": MatchInt, "ip": MatchIP, "str": MatchStr, "beg": MatchBeg,
	"end": MatchEnd, "sub": MatchSub, "reg": MatchReg, "found": MatchFound, "len": MatchLen,
	"bin": MatchBin,
}

// unsupportedMatches are HAProxy's, for HTTP paths and hosts or methods.
var unsupportedMatches = map[string]bool{"dom": true, "dir": true, "meth": true}

func (m MatchKind) String() string {
	for k, v := range matchNames {
		if v == m {
			return k
		}
	}
	return "?"
}

// defaultMatch is the method used without "-m": by the fetch's type, as
// HAProxy does; binary fetches need an explicit one.
func defaultMatch(t SampleType) (MatchKind, bool) {
	switch t {
	case TypeBool:
		return MatchBool, true
	case TypeInt:
		return MatchInt, true
	case TypeIP:
		return MatchIP, true
	case TypeStr:
		return MatchStr, true
	}
	return 0, false
}

// intRange is an integer pattern: lo <= v <= hi.
type intRange struct{ lo, hi int64 }

// Expr is one ACL expression: "fetch [flags] patterns...". Any pattern
// matching makes the expression match.
type Expr struct {
	Sample     *SampleExpr
	Match      MatchKind
	IgnoreCase bool

	ints     []intRange
	prefixes []netip.Prefix
	strs     [][]byte // lowercased with -i
	regs     []*regexp.Regexp
	// noPattern: "--" with nothing after, or no pattern at all.
	patterns int
}

// parseExpr reads "fetch [-i] [-m M] [-n] [--] patterns..." (words start at
// the fetch). warn is a HAProxy warning for an expression that will never
// match.
func parseExpr(words []string) (x *Expr, warn string, err error) {
	if len(words) == 0 {
		return nil, "", fmt.Errorf("missing fetch method")
	}
	smp, err := parseSampleExpr(words[0])
	if err != nil {
		return nil, "", err
	}
	x = &Expr{Sample: smp}
	match, explicit := MatchKind(0), false
	i := 1
	dashdash := false
flags:
	for ; i < len(words); i++ {
		w := words[i]
		if len(w) == 0 || w[0] != '-' {
			break
		}
		switch w {
		case "-i":
			x.IgnoreCase = true
		case "-n", "-u":
			// -n: no DNS resolution (never done here); -u: unique id
			// (ACLs are not shared here, nothing to name).
		case "--":
			i++
			dashdash = true
			break flags
		case "-m":
			if i+1 >= len(words) {
				return nil, "", fmt.Errorf("missing matching method after '-m'")
			}
			i++
			m, ok := matchNames[words[i]]
			if !ok {
				if unsupportedMatches[words[i]] {
					return nil, "", fmt.Errorf("matching method '%s' is not supported (mode tcp)", words[i])
				}
				return nil, "", fmt.Errorf("unknown matching method '%s'", words[i])
			}
			match, explicit = m, true
		case "-f", "-M":
			return nil, "", fmt.Errorf("flag '%s' (patterns from a file) is not supported", w)
		default:
			return nil, "", fmt.Errorf("'%s' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'", w)
		}
	}
	if !explicit {
		m, ok := defaultMatch(smp.Out())
		if !ok {
			return nil, "", fmt.Errorf("matching method must be specified first (using '-m') when using a sample fetch of this type ('%s')", smp.Fetch.name)
		}
		match = m
	}
	x.Match = match
	pats := words[i:]
	if err := x.addPatterns(pats); err != nil {
		return nil, "", err
	}
	if len(pats) == 0 && !dashdash && match != MatchFound && match != MatchBool {
		warn = "no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'"
	}
	return x, warn, nil
}

// addPatterns parses the patterns for x's method.
func (x *Expr) addPatterns(pats []string) error {
	switch x.Match {
	case MatchBool, MatchFound:
		// Patterns are ignored, as in HAProxy.
		return nil
	case MatchInt, MatchLen:
		parse := parseDecimal
		if x.Match == MatchInt && x.Sample.Fetch.intPat != nil {
			parse = x.Sample.Fetch.intPat
		}
		op := ""
		for _, p := range pats {
			switch p {
			case "eq", "le", "lt", "ge", "gt":
				op = p // applies to the values that follow
				continue
			}
			r, err := parseIntPattern(p, op, parse)
			if err != nil {
				return err
			}
			x.ints = append(x.ints, r)
			x.patterns++
		}
	case MatchIP:
		for _, p := range pats {
			pf, err := parsePrefix(p)
			if err != nil {
				return err
			}
			x.prefixes = append(x.prefixes, pf)
			x.patterns++
		}
	case MatchReg:
		for _, p := range pats {
			expr := p
			if x.IgnoreCase {
				expr = "(?i)" + p
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return fmt.Errorf("regex '%s' is invalid (%v)", p, err)
			}
			x.regs = append(x.regs, re)
			x.patterns++
		}
	case MatchBin:
		for _, p := range pats {
			if len(p)%2 != 0 {
				return fmt.Errorf("'%s': an even number of hex digit is expected", p)
			}
			b, err := hex.DecodeString(p)
			if err != nil {
				return fmt.Errorf("'%s': an hex digit is expected", p)
			}
			x.strs = append(x.strs, b)
			x.patterns++
		}
	default: // str, beg, end, sub
		for _, p := range pats {
			b := []byte(p)
			if x.IgnoreCase {
				b = bytes.ToLower(b)
			}
			x.strs = append(x.strs, b)
			x.patterns++
		}
	}
	return nil
}

func parseDecimal(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("'%s' is not a number", s)
	}
	return n, nil
}

// parseDottedVer reads "MAJOR[.MINOR]" as (MAJOR << 16) | MINOR, the form
// of req.ssl_ver ("3.1" is TLS 1.0).
func parseDottedVer(s string) (int64, error) {
	maj, min, _ := strings.Cut(s, ".")
	a, err1 := strconv.ParseUint(maj, 10, 16)
	var b uint64
	var err2 error
	if min != "" {
		b, err2 = strconv.ParseUint(min, 10, 16)
	}
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("'%s' is not a dotted number", s)
	}
	return int64(a<<16 | b), nil
}

// parseIntPattern reads "N", "N:M", ":M" or "N:" (a range), or N after an
// operator (eq, le, lt, ge, gt).
func parseIntPattern(p, op string, parse func(string) (int64, error)) (intRange, error) {
	if lo, hi, ok := strings.Cut(p, ":"); ok {
		r := intRange{math.MinInt64, math.MaxInt64}
		var err error
		if lo != "" {
			if r.lo, err = parse(lo); err != nil {
				return r, err
			}
		}
		if hi != "" {
			if r.hi, err = parse(hi); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	v, err := parse(p)
	if err != nil {
		return intRange{}, err
	}
	switch op {
	case "le":
		return intRange{math.MinInt64, v}, nil
	case "lt":
		if v == math.MinInt64 {
			return intRange{1, 0}, nil // empty
		}
		return intRange{math.MinInt64, v - 1}, nil
	case "ge":
		return intRange{v, math.MaxInt64}, nil
	case "gt":
		if v == math.MaxInt64 {
			return intRange{1, 0}, nil
		}
		return intRange{v + 1, math.MaxInt64}, nil
	}
	return intRange{v, v}, nil
}

// match applies the method to a fetched sample, casting it as HAProxy
// does (a string holding a number matches -m int, an integer -m str by its
// decimal text, …); a sample that cannot be cast does not match.
func (x *Expr) match(smp *Sample) bool {
	switch x.Match {
	case MatchFound:
		return true
	case MatchBool:
		if smp.Type == TypeBool || smp.Type == TypeInt {
			return smp.Int != 0
		}
		return false
	case MatchInt:
		v, ok := sampleInt(smp)
		return ok && x.inRanges(v)
	case MatchLen:
		b, ok := sampleBytes(smp)
		return ok && x.inRanges(int64(len(b)))
	case MatchIP:
		a, ok := sampleIP(smp)
		if !ok {
			return false
		}
		for _, p := range x.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	case MatchReg:
		b, ok := sampleBytes(smp)
		if !ok {
			return false
		}
		for _, re := range x.regs {
			if re.Match(b) {
				return true
			}
		}
		return false
	}
	b, ok := sampleBytes(smp)
	if !ok {
		return false
	}
	fold := x.IgnoreCase && x.Match != MatchBin
	for _, p := range x.strs {
		if len(p) > len(b) {
			continue
		}
		var hit bool
		switch x.Match {
		case MatchStr, MatchBin:
			hit = len(p) == len(b) && equalFold(b, p, fold)
		case MatchBeg:
			hit = equalFold(b[:len(p)], p, fold)
		case MatchEnd:
			hit = equalFold(b[len(b)-len(p):], p, fold)
		case MatchSub:
			hit = containsFold(b, p, fold)
		}
		if hit {
			return true
		}
	}
	return false
}

func (x *Expr) inRanges(v int64) bool {
	for _, r := range x.ints {
		if r.lo <= v && v <= r.hi {
			return true
		}
	}
	return false
}

// equalFold compares b with p (already lowercased when fold) in ASCII, as
// HAProxy's strncasecmp.
func equalFold(b, p []byte, fold bool) bool {
	if !fold {
		return bytes.Equal(b, p)
	}
	for i := range p {
		if lower(b[i]) != p[i] {
			return false
		}
	}
	return true
}

func containsFold(b, p []byte, fold bool) bool {
	if !fold {
		return bytes.Contains(b, p)
	}
	for i := 0; i+len(p) <= len(b); i++ {
		if equalFold(b[i:i+len(p)], p, true) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func sampleInt(smp *Sample) (int64, bool) {
	switch smp.Type {
	case TypeBool, TypeInt:
		return smp.Int, true
	case TypeStr, TypeBin:
		n, err := strconv.ParseInt(string(smp.Bytes), 10, 64)
		return n, err == nil
	case TypeIP:
		if smp.IP.Is4() {
			a := smp.IP.As4()
			return int64(a[0])<<24 | int64(a[1])<<16 | int64(a[2])<<8 | int64(a[3]), true
		}
	}
	return 0, false
}

func sampleIP(smp *Sample) (netip.Addr, bool) {
	switch smp.Type {
	case TypeIP:
		return smp.IP, true
	case TypeStr:
		a, err := netip.ParseAddr(string(smp.Bytes))
		return a.Unmap(), err == nil
	case TypeInt:
		if smp.Int >= 0 && smp.Int <= math.MaxUint32 {
			v := uint32(smp.Int)
			return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
		}
	}
	return netip.Addr{}, false
}

func sampleBytes(smp *Sample) ([]byte, bool) {
	switch smp.Type {
	case TypeStr, TypeBin:
		return smp.Bytes, true
	case TypeBool, TypeInt:
		return strconv.AppendInt(nil, smp.Int, 10), true
	case TypeIP:
		return []byte(smp.IP.String()), true
	}
	return nil, false
}
