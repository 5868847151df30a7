package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is Spec.Grace's default: the CLI contract's SIGTERM budget.
const DefaultGrace = 5 * time.Second

// waitDelay bounds how long a reaped child's output pipes may stay open
// (a grandchild that inherited them): then they are closed and Wait
// returns. Without it one stray grandchild would hang Stop.
const waitDelay = 2 * time.Second

// Spec says what to start and how to watch it.
type Spec struct {
	// Name is the child in messages ("haproxy", "gnet msgr-server");
	// default: Path's base name.
	Name string
	// Path is the program; a name without a slash is looked up on PATH.
	Path string
	// Args follow the program name.
	Args []string
	// Env is added to this process's environment (later entries win).
	Env []string
	// Dir is the working directory; empty: this process's.
	Dir string
	// CPUs, when set, pins the child from its first instruction (see
	// startOnSpawner), as taskset would.
	CPUs []int
	// Stdin gives the child a pipe for stdin, closed by CloseStdin (or at
	// Stop); otherwise stdin is /dev/null.
	Stdin bool
	// ReadyWord, when set, is what the child's first stdout line must
	// start with ("READY"): Start returns only once that line arrived,
	// with the line's other fields in Proc.Ready, and fails when the child
	// exits first, writes another first line, or stays silent past
	// ReadyTimeout (the child is then killed).
	ReadyWord string
	// ReadyTimeout bounds the wait for the ReadyWord line; 0:
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// LogFile, when set, gets the child's stdout and stderr appended by
	// the child itself (a peer's log, kept whole on disk); Stdout and
	// Stderr then read its last Capture bytes. Not with ReadyWord.
	LogFile string
	// Capture is how many of the last bytes of stdout, and of stderr, are
	// kept (besides the first HeadBytes); 0: DefaultCapture.
	Capture int
	// Grace is Stop's wait between SIGTERM and SIGKILL; 0: DefaultGrace.
	Grace time.Duration
	// IgnoreStopStatus: a non-zero exit after Stop's SIGTERM is not an
	// error (a third-party daemon's choice: haproxy exits 143).
	IgnoreStopStatus bool
}

// Proc is a started child. Its methods are safe for concurrent use.
type Proc struct {
	Name string
	// Ready holds the fields after ReadyWord on the ready line (the
	// addresses of a contract READY line).
	Ready []string

	spec    Spec
	cmd     *exec.Cmd
	stdout  *capture // after the ready line, when there is one
	stderr  *capture
	stdin   io.WriteCloser
	started time.Time

	done    chan struct{} // closed once the child is reaped
	waitErr error         // cmd.Wait's result, valid after done
	ended   time.Time     // valid after done

	stopOnce sync.Once
	stopErr  error
}

// Start starts the child described by s and, with s.ReadyWord, waits for
// its ready line. A child that does not come up is stopped and reaped
// before Start returns its *StartError.
func Start(s Spec) (*Proc, error) {
	if s.Name == "" {
		s.Name = filepath.Base(s.Path)
	}
	if s.LogFile != "" && s.ReadyWord != "" {
		return nil, &StartError{Name: s.Name, Reason: "LogFile and ReadyWord exclude each other"}
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Dir = s.Dir
	if s.Env != nil {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	// Own process group: a terminal's Ctrl-C reaches the parent only.
	// Pdeathsig: the child dies with the parent (see spawn.go).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	p := &Proc{Name: s.Name, spec: s, cmd: cmd, stdout: newCapture(s.Capture), stderr: newCapture(s.Capture),
		done: make(chan struct{})}
	var ready chan []string
	switch {
	case s.LogFile != "":
		f, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, &StartError{Name: s.Name, Reason: err.Error()}
		}
		defer f.Close() // the child holds its own copy
		cmd.Stdout, cmd.Stderr = f, f
	case s.ReadyWord != "":
		ready = make(chan []string, 1)
		cmd.Stdout, cmd.Stderr = &readyWriter{word: s.ReadyWord, ready: ready, rest: p.stdout}, p.stderr
	default:
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	}
	if s.Stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, &StartError{Name: s.Name, Reason: err.Error()}
		}
		p.stdin = w
	}
	if err := startOnSpawner(cmd, s.CPUs); err != nil {
		return nil, &StartError{Name: s.Name, Reason: err.Error()}
	}
	p.started = time.Now()
	register(p)
	go func() {
		p.waitErr = cmd.Wait()
		p.ended = time.Now()
		unregister(p)
		close(p.done)
	}()
	if ready == nil {
		return p, nil
	}
	return p, p.awaitReady(ready)
}

// awaitReady waits for the ready line; on failure it kills and reaps the
// child and says why.
func (p *Proc) awaitReady(ready <-chan []string) error {
	timeout := p.spec.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var reason string
	select {
	case f := <-ready:
		if f != nil {
			p.Ready = f
			return nil
		}
		reason = fmt.Sprintf("first stdout line is not %s", p.spec.ReadyWord)
	case <-p.done:
		// Wait returns after stdout was copied: a ready line written just
		// before the exit is already here (Stop will report the exit).
		select {
		case f := <-ready:
			if f != nil {
				p.Ready = f
				return nil
			}
		default:
		}
		reason = fmt.Sprintf("exited before %s (%s)", p.spec.ReadyWord, describeExit(p.waitErr))
	case <-t.C:
		reason = fmt.Sprintf("no %s line within %v", p.spec.ReadyWord, timeout)
	}
	p.Kill()
	<-p.done
	return &StartError{Name: p.Name, Reason: reason, Stdout: p.Stdout(), Stderr: p.Stderr()}
}

// PID is the child's process id (the program itself: no shell, no taskset).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Args is the full command line.
func (p *Proc) Args() []string { return append([]string{p.spec.Path}, p.spec.Args...) }

// Done is closed once the child has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is the child's exit status once it exited (nil for status 0 and
// while it runs).
func (p *Proc) ExitErr() error {
	if p.Exited() {
		return p.waitErr
	}
	return nil
}

// Stdout is the captured stdout after the ready line (or all of it
// without a ReadyWord; the LogFile's tail with one).
func (p *Proc) Stdout() string {
	if p.spec.LogFile != "" {
		return fileTail(p.spec.LogFile, p.capLimit())
	}
	return p.stdout.String()
}

// Stderr is the captured stderr (the LogFile's tail with one).
func (p *Proc) Stderr() string {
	if p.spec.LogFile != "" {
		return fileTail(p.spec.LogFile, p.capLimit())
	}
	return p.stderr.String()
}

func (p *Proc) capLimit() int {
	if p.spec.Capture > 0 {
		return p.spec.Capture
	}
	return DefaultCapture
}

// fileTail is the last n bytes of the file at path ("" when unreadable).
func fileTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > int64(n) {
		_, _ = f.Seek(st.Size()-int64(n), io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, int64(n)))
	return string(b)
}

// CloseStdin closes the child's stdin pipe (Spec.Stdin): it reads EOF.
func (p *Proc) CloseStdin() error {
	if p.stdin == nil {
		return nil
	}
	return p.stdin.Close()
}

// Freeze stops the child (SIGSTOP) until Thaw: it uses no CPU meanwhile.
func (p *Proc) Freeze() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen child (SIGCONT).
func (p *Proc) Thaw() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Kill sends SIGKILL (no grace; Stop is the orderly way).
func (p *Proc) Kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// Stop errors, for errors.Is.
var (
	// ErrExitedEarly: the child had exited on its own before Stop.
	ErrExitedEarly = errors.New("exited on its own before Stop")
	// ErrKilled: the child outlived Grace after SIGTERM and was killed.
	ErrKilled = errors.New("still running after SIGTERM; killed")
	// ErrStopStatus: the child exited non-zero after SIGTERM.
	ErrStopStatus = errors.New("exit status after SIGTERM")
)

// Stop ends the child: SIGTERM and SIGCONT to its PID, a wait of up to
// Grace, then SIGKILL, and reaps it. It reports ErrExitedEarly (a crash
// the caller should hear about), ErrKilled, or ErrStopStatus, each with
// the gist of stderr. Stop is idempotent: later and concurrent calls
// return the first call's result once the child is reaped.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.terminate()
		_ = p.CloseStdin()
	})
	return p.stopErr
}

func (p *Proc) terminate() error {
	if p.Exited() {
		return p.stopError(ErrExitedEarly, describeExit(p.waitErr))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a frozen child must run to exit
	grace := p.spec.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
		<-p.done
		return p.stopError(ErrKilled, grace.String())
	}
	if p.waitErr != nil && !p.spec.IgnoreStopStatus {
		return p.stopError(ErrStopStatus, describeExit(p.waitErr))
	}
	return nil
}

func (p *Proc) stopError(kind error, detail string) error {
	err := fmt.Errorf("%s (pid %d): %w (%s)", p.Name, p.PID(), kind, detail)
	if g := Gist(p.Stderr()); g != "" {
		err = fmt.Errorf("%w; stderr: %s", err, g)
	}
	return err
}

// Wait waits until the child exits, returning its ExitErr, or ctx ends,
// returning ctx's error (the child runs on).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
