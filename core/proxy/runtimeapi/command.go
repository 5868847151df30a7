package runtimeapi

import "strings"

// SplitLine cuts one request line (without its '\n') into commands and
// their words, as HAProxy's CLI does: ';' separates commands, blanks
// (space, tab) separate words, '\' makes the next character literal (so
// '\;' and '\ ' stay inside a word). A trailing '\r' is dropped. Each
// command keeps at most MaxArgs words; further words are dropped. An empty
// command (a blank line, or nothing between two ';') is an empty slice.
//
// It is a pure function over the line: the server bounds the line's length
// before calling it, so the result is bounded by the input.
func SplitLine(line string) [][]string {
	line = strings.TrimSuffix(line, "\r")
	var (
		cmds    [][]string
		words   []string
		word    strings.Builder
		inWord  bool
		escaped bool
	)
	endWord := func() {
		if inWord {
			if len(words) < MaxArgs {
				words = append(words, word.String())
			}
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			word.WriteByte(c)
			inWord, escaped = true, false
		case c == '\\':
			escaped, inWord = true, true
		case c == ';':
			endWord()
			cmds = append(cmds, words)
			words = nil
		case c == ' ' || c == '\t':
			endWord()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	// A trailing lone '\' escapes nothing: it stays, as a literal.
	if escaped {
		word.WriteByte('\\')
	}
	endWord()
	return append(cmds, words)
}
