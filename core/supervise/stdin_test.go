package supervise

import (
	"strings"
	"testing"
	"time"
)

func TestWriteStdin(t *testing.T) {
	NoLeaks(t)
	s := child(t, "echo")
	s.ReadyWord, s.Stdin = "READY", true
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for i, line := range []string{"one\n", "two\n"} {
		if err := p.WriteStdin([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor("echo "+line, 10*time.Second, func() (bool, error) {
			return strings.Count(p.Stdout(), "\n") > i, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Stdout(); got != "one\ntwo\n" {
		t.Fatalf("echoed %q", got)
	}
	q, err := Start(child(t, "ready"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop()
	if err := q.WriteStdin([]byte("x\n")); err == nil {
		t.Fatal("no stdin pipe: no error")
	}
}
