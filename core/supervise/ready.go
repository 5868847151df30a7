package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultReadyTimeout bounds a readiness wait when the caller gives none.
// Generous because the test machines are small and shared.
const DefaultReadyTimeout = 20 * time.Second

// maxReadyLine bounds the first stdout line while it is awaited: a child
// that writes this much without a newline has no READY line.
const maxReadyLine = 4 << 10

// ErrTimeout marks a readiness wait that ran out of time.
var ErrTimeout = errors.New("timed out")

// readyWriter receives stdout when Spec.ReadyWord is set: the first line
// decides readiness (its fields after the word go on ready; nil when it is
// some other line), and every byte after it, or the whole line when it was
// not the ready line, goes to rest.
type readyWriter struct {
	word  string
	ready chan []string // buffered 1; receives exactly once
	rest  *capture

	mu      sync.Mutex
	line    []byte
	decided bool
}

func (w *readyWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.decided {
		return w.rest.Write(b)
	}
	w.line = append(w.line, b...)
	i := bytes.IndexByte(w.line, '\n')
	if i < 0 {
		if len(w.line) > maxReadyLine {
			w.decide(nil, w.line)
		}
		return len(b), nil
	}
	first, after := w.line[:i], w.line[i+1:]
	if f := strings.Fields(string(first)); len(f) > 0 && f[0] == w.word {
		w.decide(append([]string{}, f[1:]...), after) // non-nil: ready
	} else {
		w.decide(nil, w.line)
	}
	return len(b), nil
}

// decide sends the verdict (non-nil fields for a ready line) and passes
// rest on to the capture.
func (w *readyWriter) decide(fields []string, rest []byte) {
	w.decided = true
	w.ready <- fields
	_, _ = w.rest.Write(rest)
	w.line = nil
}

// WaitFor polls cond until it holds, the child exits, or timeout passes
// (0: DefaultReadyTimeout); what names the wait in the error. Use it for
// signals a child gives only in the world around it (a socket, a log line).
func (p *Proc) WaitFor(what string, timeout time.Duration, cond func() (bool, error)) error {
	err := poll(timeout, p.done, cond)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errExited):
		return fmt.Errorf("%s (pid %d) exited (%s) while waiting for %s", p.Name, p.PID(), describeExit(p.waitErr), what)
	case errors.Is(err, ErrTimeout):
		return fmt.Errorf("%s (pid %d): %w after %s waiting for %s", p.Name, p.PID(), err, timeout, what)
	}
	return fmt.Errorf("%s (pid %d): waiting for %s: %w", p.Name, p.PID(), what, err)
}

var errExited = errors.New("exited")

// poll checks cond until it holds, exited is closed (errExited), or
// timeout passes (ErrTimeout). The interval starts at 1 ms and doubles to
// 25 ms: it only bounds how late a change is noticed, correctness never
// depends on it. cond is checked once more at the exit and the deadline.
func poll(timeout time.Duration, exited <-chan struct{}, cond func() (bool, error)) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	delay := time.Millisecond
	for {
		if ok, err := cond(); ok || err != nil {
			return err
		}
		tick := time.NewTimer(delay)
		var end error
		select {
		case <-exited:
			end = errExited
		case <-deadline.C:
			end = ErrTimeout
		case <-tick.C:
		}
		tick.Stop()
		if end != nil {
			if ok, _ := cond(); ok {
				return nil
			}
			return end
		}
		delay = min(delay*2, 25*time.Millisecond)
	}
}

// WaitListening waits until every address ("host:port"; an empty or "*"
// host means any) has a TCP socket in LISTEN owned by the child's PID.
// It reads /proc/net/tcp{,6} and /proc/PID/fd instead of connecting, so no
// probe reaches the child's logs or a proxy's backend counts.
func (p *Proc) WaitListening(timeout time.Duration, addrs ...string) error {
	if len(addrs) == 0 {
		return nil
	}
	return p.WaitFor("listening on "+strings.Join(addrs, ", "), timeout, func() (bool, error) {
		for _, a := range addrs {
			if ok, err := ListeningBy(p.PID(), a); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	})
}

// WaitLog waits until at least n lines of the file at path contain substr
// (the file may not exist yet), the child exits, or timeout passes.
func (p *Proc) WaitLog(path, substr string, n int, timeout time.Duration) error {
	return p.WaitFor(fmt.Sprintf("%d line(s) containing %q in %s", n, substr, path), timeout, func() (bool, error) {
		b, _ := os.ReadFile(path)
		return CountLines(b, substr) >= n, nil
	})
}

// CountLines counts the lines of text that contain substr.
func CountLines(text []byte, substr string) int {
	n := 0
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		if bytes.Contains(line, []byte(substr)) {
			n++
		}
	}
	return n
}
