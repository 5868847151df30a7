package config

import (
	"fmt"
	"strings"
)

// NameFormat is a dynamic backend name: HAProxy's log-format string
// limited to literal text and "%[expr]" sample expressions, as in
// "use_backend %[req.ssl_sni,lower,map_dom(/etc/haproxy/sni.map,bk_default)]".
type NameFormat struct {
	parts []namePart
	text  string
}

type namePart struct {
	lit  string
	expr *SampleExpr
}

// String is the format as written.
func (f *NameFormat) String() string { return f.text }

// parseNameFormat reads a backend name holding "%[...]" expressions.
func parseNameFormat(s string) (*NameFormat, error) {
	f := &NameFormat{text: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			f.parts = append(f.parts, namePart{lit: rest})
			break
		}
		if i > 0 {
			f.parts = append(f.parts, namePart{lit: rest[:i]})
		}
		rest = rest[i:]
		if !strings.HasPrefix(rest, "%[") {
			return nil, fmt.Errorf("only %%[...] sample expressions are supported in a dynamic backend name (got '%s')", rest)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("missing ']' after '%s'", rest)
		}
		x, err := parseSampleExpr(rest[2:end])
		if err != nil {
			return nil, err
		}
		f.parts = append(f.parts, namePart{expr: x})
		rest = rest[end+1:]
	}
	return f, nil
}

// Build appends the name for the session in e to dst. A sample that is
// missing prints as "-", as in HAProxy's log-format.
func (f *NameFormat) Build(e *Env, dst []byte) []byte {
	for _, p := range f.parts {
		if p.expr == nil {
			dst = append(dst, p.lit...)
			continue
		}
		smp := &e.smp
		smp.Ctx = 0
		if !p.expr.Eval(e, smp) {
			dst = append(dst, '-')
			continue
		}
		b, ok := sampleBytes(smp)
		if !ok {
			dst = append(dst, '-')
			continue
		}
		dst = append(dst, b...)
	}
	return dst
}
