package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a process may take to print READY.
const ReadyTimeout = 15 * time.Second

// StopTimeout is the contract's SIGTERM budget.
const StopTimeout = 5 * time.Second

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// Proc is a started long-running engine command.
type Proc struct {
	Name    string   // engine/command, for messages
	Addrs   []string // addresses from the READY line
	cmd     *exec.Cmd
	stderr  *tail
	extra   *tail // stdout after READY (must stay empty)
	done    chan struct{}
	waitErr error

	mu      sync.Mutex
	stopped bool

	slot          *slotRef // tap slot of a userspace engine
	releaseOnStop bool     // StartProc: Stop gives the slot back
}

// ShutdownRecord is what a Cleanup observed when it stopped a process; the
// suite's shutdown case reads them (CONTRACT.md: exit 0 within 5 s, nothing
// on stdout after READY).
type ShutdownRecord struct {
	Engine, Case, Problem string
}

var (
	shutdownMu   sync.Mutex
	shutdownRecs = map[string][]ShutdownRecord{}
	shutdownRuns = map[string]int{}
)

// ShutdownProblems returns the problems recorded for engine and how many
// processes were stopped in all.
func ShutdownProblems(engine string) ([]ShutdownRecord, int) {
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	return append([]ShutdownRecord(nil), shutdownRecs[engine]...), shutdownRuns[engine]
}

func recordShutdown(engine, test, problem string) {
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	shutdownRuns[engine]++
	if problem != "" {
		shutdownRecs[engine] = append(shutdownRecs[engine], ShutdownRecord{engine, test, problem})
	}
}

// Start runs e with args, waits for its single READY line and registers a
// Cleanup that stops it by PID. A process that exits or stays silent
// before READY fails the test with its stderr.
func Start(t testing.TB, e Engine, args ...string) *Proc {
	t.Helper()
	return start(t, e, nil, args)
}

func start(t testing.TB, e Engine, reuse *slotRef, args []string) *Proc {
	t.Helper()
	full, slot, err := withSlot(e, reuse, args)
	if err != nil {
		t.Fatalf("start %s %s: %v", e.Name, strings.Join(args, " "), err)
	}
	// The test holds the slot until its end (after the process stopped),
	// so StartAgain can bring a process back on the same address.
	t.Cleanup(slot.release)
	p, err := startProc(e, full)
	if err != nil {
		t.Fatalf("start %s %s: %v", e.Name, strings.Join(args, " "), err)
	}
	p.slot = slot
	t.Cleanup(func() {
		if problem := p.cleanupStop(); problem != "" {
			t.Logf("%s: %s", p.Name, problem)
			recordShutdown(e.Name, t.Name(), problem)
		} else {
			recordShutdown(e.Name, t.Name(), "")
		}
	})
	return p
}

// StartProc is Start without a testing.TB; the caller must Stop it.
func StartProc(e Engine, args ...string) (*Proc, error) {
	full, slot, err := withSlot(e, nil, args)
	if err != nil {
		return nil, err
	}
	p, err := startProc(e, full)
	if err != nil {
		slot.release()
		return nil, err
	}
	p.slot, p.releaseOnStop = slot, true
	return p, nil
}

func startProc(e Engine, args []string) (*Proc, error) {
	cmd := exec.Command(e.Path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: e.Name + " " + firstArg(args), cmd: cmd, stderr: &tail{max: 64 << 10}, extra: &tail{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	ready := make(chan []string, 1)
	// exec copies stdout into the writer and Wait returns only after that
	// copy ended, so nothing written after READY can be missed.
	cmd.Stdout = &readyWriter{ready: ready, extra: p.extra}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case addrs := <-ready:
		if len(addrs) == 0 {
			p.kill()
			<-p.done
			return nil, fmt.Errorf("no READY line (stdout %q, exit %v); stderr: %s", p.extra.String(), p.waitErr, p.StderrTail())
		}
		p.Addrs = addrs
		return p, nil
	case <-p.done:
		select {
		case addrs := <-ready:
			if len(addrs) > 0 { // READY, then an exit: Stop reports the exit
				p.Addrs = addrs
				return p, nil
			}
		default:
		}
		return nil, fmt.Errorf("exited before READY (%v; stdout %q); stderr: %s", p.waitErr, p.extra.String(), p.StderrTail())
	case <-time.After(ReadyTimeout):
		p.kill()
		<-p.done
		return nil, fmt.Errorf("no READY within %v; stderr: %s", ReadyTimeout, p.StderrTail())
	}
}

// readyWriter receives a process's stdout: the first line must be
// "READY addr..."; anything else (or anything after it) goes to extra.
type readyWriter struct {
	ready chan []string
	extra *tail
	line  []byte
	done  bool
}

func (w *readyWriter) Write(b []byte) (int, error) {
	if w.done {
		return w.extra.Write(b)
	}
	w.line = append(w.line, b...)
	i := bytes.IndexByte(w.line, '\n')
	if i < 0 {
		if len(w.line) > 4096 {
			w.done = true
			w.ready <- nil
			_, _ = w.extra.Write(w.line)
		}
		return len(b), nil
	}
	w.done = true
	first, rest := string(w.line[:i]), w.line[i+1:]
	if f := strings.Fields(first); len(f) >= 2 && f[0] == "READY" {
		w.ready <- f[1:]
	} else {
		w.ready <- nil
		_, _ = w.extra.Write(w.line[:i+1])
	}
	_, _ = w.extra.Write(rest)
	return len(b), nil
}

func firstArg(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Addr returns the i-th READY address.
func (p *Proc) Addr(i int) string {
	if i < len(p.Addrs) {
		return p.Addrs[i]
	}
	return ""
}

// StderrTail returns the last lines of stderr, for failure messages.
func (p *Proc) StderrTail() string {
	s := p.stderr.String()
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return strings.TrimSpace(s)
}

// Stderr returns all captured stderr (the last 64 KiB).
func (p *Proc) Stderr() string { return p.stderr.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process ends.
func (p *Proc) Done() <-chan struct{} { return p.done }

func (p *Proc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits up to StopTimeout. It returns an error
// unless the process exited with status 0 in time (after the deadline it
// is killed). Stop is idempotent.
func (p *Proc) Stop() error {
	p.mu.Lock()
	already := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if already {
		<-p.done
		return nil
	}
	if p.releaseOnStop {
		defer p.slot.release() // after the exit: the tap is gone with it
	}
	if p.Exited() {
		return fmt.Errorf("exited on its own before SIGTERM: %v; stderr: %s", p.waitErr, p.StderrTail())
	}
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		p.kill()
		<-p.done
		return fmt.Errorf("still running %v after SIGTERM (killed); stderr: %s", StopTimeout, p.StderrTail())
	}
	if p.waitErr != nil {
		return fmt.Errorf("exit after SIGTERM (%v): %v; stderr: %s", time.Since(start).Round(time.Millisecond), p.waitErr, p.StderrTail())
	}
	return nil
}

func (p *Proc) cleanupStop() string {
	err := p.Stop()
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	if x := p.extra.String(); x != "" {
		problems = append(problems, fmt.Sprintf("wrote to stdout after READY: %q", x))
	}
	return strings.Join(problems, "; ")
}

// Result of a short command run to completion.
type Result struct {
	Stdout, Stderr string
	Code           int // -1 when killed at the deadline
	Elapsed        time.Duration
}

// Run runs e with args to completion within d.
func Run(e Engine, d time.Duration, args ...string) Result {
	args, slot, err := withSlot(e, nil, args)
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	defer slot.release()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Path, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err = cmd.Run()
	r := Result{Stdout: so.String(), Stderr: se.String(), Elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
	}
	return r
}
