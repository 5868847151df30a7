package supervise

import (
	"fmt"
	"strings"
)

// StartError is a child that did not come up, with what it said.
type StartError struct {
	Name   string
	Reason string
	Stdout string // captured stdout (the line that was not the ready line)
	Stderr string
}

func (e *StartError) Error() string {
	s := fmt.Sprintf("start %s: %s", e.Name, e.Reason)
	if g := Gist(e.Stderr); g != "" {
		s += ": " + g
	}
	return s
}

// Gist is what a child's stderr says in one line: its last non-empty
// line, or for a crash (a Go panic or fatal signal, whose last line is a
// register dump) the crash's first lines joined by " | ".
func Gist(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i, l := range lines {
		for _, crash := range []string{"panic:", "fatal error:", "SIGSEGV", "SIGBUS", "SIGABRT"} {
			if strings.HasPrefix(l, crash) {
				return strings.Join(lines[i:min(i+8, len(lines))], " | ")
			}
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
