package config

import "fmt"

// Error is a configuration error at one line of one file. Its text is the
// one-line form the CLI prints: "file:line: message".
type Error struct {
	File string
	Line int // 0 when the error concerns the whole configuration
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Warning is something HAProxy itself accepts with a warning: the
// configuration is still usable. Same text form as Error.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	if w.Line == 0 {
		return fmt.Sprintf("%s: warning: %s", w.File, w.Msg)
	}
	return fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg)
}
