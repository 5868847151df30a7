package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Converters transform a fetched sample: "req.ssl_sni,lower,map(FILE,DEF)".
// Like fetches they are a table; a new one is one entry.

// converter is one entry of the converter table.
type converter struct {
	name    string
	args    []ArgType
	minArgs int
	out     SampleType
	// prepare checks the arguments and loads what they name (a map
	// file), once at parse time.
	prepare func(c *Conv) error
	fn      func(e *Env, c *Conv, smp *Sample) bool
}

// Conv is a converter with its arguments in a sample expression.
type Conv struct {
	def  *converter
	Args []Arg
	m    *mapFile
}

var converters = []converter{
	{name: "lower", out: TypeStr, fn: convCase(lower)},
	{name: "upper", out: TypeStr, fn: convCase(upper)},
	// Maps (HAProxy's map_<match>(FILE[,DEFAULT])): the value of the
	// first entry whose key matches the sample, else DEFAULT, else no
	// sample. "map" is map_str.
	{name: "map", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchStr), fn: convMap},
	{name: "map_str", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchStr), fn: convMap},
	{name: "map_beg", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchBeg), fn: convMap},
	{name: "map_end", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchEnd), fn: convMap},
	{name: "map_sub", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchSub), fn: convMap},
	{name: "map_dom", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(matchDom), fn: convMap},
	{name: "map_reg", args: []ArgType{ArgStr, ArgStr}, minArgs: 1, out: TypeStr, prepare: prepareMap(MatchReg), fn: convMap},
}

var converterIndex = func() map[string]*converter {
	m := map[string]*converter{}
	for i := range converters {
		m[converters[i].name] = &converters[i]
	}
	return m
}()

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// convCase maps every byte with f into the evaluation's scratch buffer.
func convCase(f func(byte) byte) func(e *Env, _ *Conv, smp *Sample) bool {
	return func(e *Env, _ *Conv, smp *Sample) bool {
		b, ok := sampleBytes(smp)
		if !ok {
			return false
		}
		out := e.scratch(len(b))
		for i, c := range b {
			out[i] = f(c)
		}
		smp.SetBytes(TypeStr, out)
		return true
	}
}

// scratch is a buffer of n bytes reused across evaluations; a converter's
// output lives in it until the next conversion.
func (e *Env) scratch(n int) []byte {
	if cap(e.buf) < n {
		e.buf = make([]byte, n, max(n, 256))
	}
	// Alternate halves would be needed for two chained case converters;
	// each reads its input before writing, and in-place is safe for a
	// byte-by-byte map.
	return e.buf[:n]
}

// matchDom is map_dom's method (HAProxy's -m dom): the key appears in the
// sample as whole components delimited by '.', '/', '?', ':' or the ends.
const matchDom MatchKind = 255

// mapFile is one loaded map: entries in file order, and an index for
// exact keys.
type mapFile struct {
	match MatchKind
	keys  [][]byte
	vals  [][]byte
	regs  []*regexp.Regexp
	exact map[string][]byte
}

// maps caches loaded map files by method and path: HAProxy loads a file
// once per use; here once per parse.
func prepareMap(m MatchKind) func(c *Conv) error {
	return func(c *Conv) error {
		mf, err := loadMap(c.Args[0].Str, m)
		if err != nil {
			return err
		}
		c.m = mf
		return nil
	}
}

// maxMapLine bounds one line of a map file.
const maxMapLine = 64 << 10

// loadMap reads "KEY VALUE" lines: blanks separate the key from the value
// (the rest of the line, trimmed); '#' starts a comment line; empty lines
// are skipped, as in HAProxy.
func loadMap(path string, m MatchKind) (*mapFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open map file '%s': %v", path, err)
	}
	defer f.Close()
	return parseMap(f, path, m)
}

// parseMap reads a map file's content (path names it in errors).
func parseMap(f io.Reader, path string, m MatchKind) (*mapFile, error) {
	mf := &mapFile{match: m}
	if m == MatchStr {
		mf.exact = map[string][]byte{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxMapLine)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		key, val := l, ""
		if i := strings.IndexAny(l, " \t"); i >= 0 {
			key, val = l[:i], strings.TrimSpace(l[i:])
		}
		switch m {
		case MatchStr:
			if _, dup := mf.exact[key]; !dup { // the first one wins
				mf.exact[key] = []byte(val)
			}
			continue
		case MatchReg:
			re, err := regexp.Compile(key)
			if err != nil {
				return nil, fmt.Errorf("map file '%s' line %d: regex '%s' is invalid (%v)", path, line, key, err)
			}
			mf.regs = append(mf.regs, re)
		}
		mf.keys = append(mf.keys, []byte(key))
		mf.vals = append(mf.vals, []byte(val))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("map file '%s' line %d: %v", path, line+1, err)
	}
	return mf, nil
}

// lookup is the value of the first entry matching b.
func (mf *mapFile) lookup(b []byte) ([]byte, bool) {
	if mf.exact != nil {
		v, ok := mf.exact[string(b)]
		return v, ok
	}
	for i, k := range mf.keys {
		var hit bool
		switch mf.match {
		case MatchBeg:
			hit = bytes.HasPrefix(b, k)
		case MatchEnd:
			hit = bytes.HasSuffix(b, k)
		case MatchSub:
			hit = bytes.Contains(b, k)
		case MatchReg:
			hit = mf.regs[i].Match(b)
		case matchDom:
			hit = domMatch(b, k)
		}
		if hit {
			return mf.vals[i], true
		}
	}
	return nil, false
}

func isDomDelim(c byte) bool { return c == '.' || c == '/' || c == '?' || c == ':' }

// domMatch is HAProxy's pat_match_dom: key (without delimiters at its
// ends) appears in b between delimiters or the ends of b.
func domMatch(b, key []byte) bool {
	for len(key) > 0 && isDomDelim(key[0]) {
		key = key[1:]
	}
	for len(key) > 0 && isDomDelim(key[len(key)-1]) {
		key = key[:len(key)-1]
	}
	if len(key) == 0 {
		return false
	}
	for i := 0; i+len(key) <= len(b); i++ {
		if (i == 0 || isDomDelim(b[i-1])) && bytes.Equal(b[i:i+len(key)], key) &&
			(i+len(key) == len(b) || isDomDelim(b[i+len(key)])) {
			return true
		}
	}
	return false
}

func convMap(_ *Env, c *Conv, smp *Sample) bool {
	b, ok := sampleBytes(smp)
	if !ok {
		return false
	}
	v, ok := c.m.lookup(b)
	if !ok {
		if len(c.Args) < 2 {
			return false
		}
		v = []byte(c.Args[1].Str) // small; only on a miss with a default
	}
	smp.SetBytes(TypeStr, v)
	return true
}

// parseConv reads one converter "name" or "name(args)".
func parseConv(word string) (*Conv, error) {
	name, argText, hasParen, err := splitCall(word)
	if err != nil {
		return nil, err
	}
	d := converterIndex[name]
	if d == nil {
		return nil, fmt.Errorf("unknown converter '%s'", name)
	}
	var raw []string
	if hasParen && argText != "" {
		raw = strings.Split(argText, ",")
	}
	if len(raw) > len(d.args) {
		if len(d.args) == 0 {
			return nil, fmt.Errorf("converter '%s' does not take arguments", name)
		}
		return nil, fmt.Errorf("converter '%s': too many arguments (%d, at most %d)", name, len(raw), len(d.args))
	}
	if len(raw) < d.minArgs {
		return nil, fmt.Errorf("converter '%s': missing arguments (got %d/%d)", name, len(raw), d.minArgs)
	}
	c := &Conv{def: d}
	for _, r := range raw {
		c.Args = append(c.Args, Arg{Str: r})
	}
	if d.prepare != nil {
		if err := d.prepare(c); err != nil {
			return nil, fmt.Errorf("converter '%s': %v", name, err)
		}
	}
	return c, nil
}

// splitCall cuts "name(args)" into its name and argument text.
func splitCall(word string) (name, args string, hasParen bool, err error) {
	i := strings.IndexByte(word, '(')
	if i < 0 {
		return word, "", false, nil
	}
	if !strings.HasSuffix(word, ")") {
		return "", "", false, fmt.Errorf("'%s': missing closing ')' after arguments", word[:i])
	}
	return word[:i], word[i+1 : len(word)-1], true, nil
}

// splitTop cuts s at the commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
