package config

import (
	"fmt"
	"strings"
)

// splitLine cuts one configuration line into words the way HAProxy does:
// words are separated by blanks; '#' starts a comment outside quotes; a
// backslash escapes the next character (\\, \", \', \#, \ and the usual
// \t \n \r); double quotes group a word and expand "${NAME}"/"$NAME"
// through env; single quotes group a word verbatim.
func splitLine(line string, env func(string) (string, bool)) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte // 0, '"' or '\''
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
				continue
			}
			cur.WriteByte(c)
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("truncated escape sequence at end of line")
			}
			i++
			switch e := line[i]; e {
			case 't':
				cur.WriteByte('\t')
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			default:
				cur.WriteByte(e)
			}
			inWord = true
		case quote == '"':
			if c == '"' {
				quote = 0
				continue
			}
			if c == '$' {
				n, err := expandVar(line[i:], env, &cur)
				if err != nil {
					return nil, err
				}
				i += n - 1
				continue
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched quote (%c)", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// expandVar expands "$NAME" or "${NAME}" at the start of s and returns the
// bytes it used. An unset variable expands to nothing, as in HAProxy.
func expandVar(s string, env func(string) (string, bool), out *strings.Builder) (int, error) {
	isName := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	var name string
	var used int
	if len(s) > 1 && s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, fmt.Errorf("missing '}' in variable reference")
		}
		name, used = s[2:end], end+1
	} else {
		j := 1
		for j < len(s) && isName(s[j]) {
			j++
		}
		if j == 1 { // a lone '$'
			out.WriteByte('$')
			return 1, nil
		}
		name, used = s[1:j], j
	}
	if env != nil {
		if v, ok := env(name); ok {
			out.WriteString(v)
		}
	}
	return used, nil
}
