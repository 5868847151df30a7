// Package proc starts and stops the processes a scenario measures (engine
// binaries, anchors, the raw server, load generators), optionally pinned
// with taskset, and reads their CPU time and memory from /proc.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Addrs are the addresses of its READY line (when it prints one).
	Addrs  []string
	stderr *tailBuffer
	done   chan struct{}
	err    error
}

// Options for Start.
type Options struct {
	// PinCPU, when >= 0, runs the command under `taskset -c PinCPU`.
	PinCPU int
	// WaitReady waits for the contract's READY line on stdout.
	WaitReady    bool
	ReadyTimeout time.Duration
	Dir          string
	Env          []string
}

// Pinned wraps argv in taskset when cpu >= 0.
func Pinned(cpu int, argv []string) []string {
	if cpu < 0 {
		return argv
	}
	return append([]string{"taskset", "-c", fmt.Sprint(cpu)}, argv...)
}

// tailBuffer keeps the first 2 KiB and the last 4 KiB of a stream for
// error messages (bounded whatever the child writes): the tail says why a
// process gave up, the head where a crash began (a Go crash prints its
// signal and faulting goroutine first, then every goroutine, then the
// registers).
type tailBuffer struct {
	mu        sync.Mutex
	head, buf []byte
	dropped   bool
}

const (
	headMax = 2048
	tailMax = 4096
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if room := headMax - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head, p = append(t.head, p[:k]...), p[k:]
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
		t.dropped = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	sep := ""
	if t.dropped {
		sep = "\n[...]\n"
	}
	return strings.TrimSpace(string(t.head) + sep + string(t.buf))
}

// StartError is a child that did not come up.
type StartError struct {
	Name   string
	Reason string
	Stderr string
}

func (e *StartError) Error() string {
	s := fmt.Sprintf("start %s: %s", e.Name, e.Reason)
	if e.Stderr != "" {
		s += ": " + firstLine(e.Stderr)
	}
	return s
}

func firstLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[0]
}

// Start runs argv. With WaitReady it returns once the READY line arrived
// (the contract's synchronisation point; never a sleep).
func Start(name string, argv []string, o Options) (*Process, error) {
	argv = Pinned(o.PinCPU, argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	p := &Process{Name: name, Cmd: cmd, stderr: &tailBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Own process group, so a Ctrl-C at the terminal reaches the harness,
	// which then stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, &StartError{Name: name, Reason: err.Error()}
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == "READY" {
				select {
				case ready <- f[1:]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	if !o.WaitReady {
		return p, nil
	}
	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	select {
	case a := <-ready:
		p.Addrs = a
		return p, nil
	case <-p.done:
		return nil, &StartError{Name: name, Reason: fmt.Sprintf("exited before READY (%v)", p.err), Stderr: p.stderr.String()}
	case <-time.After(timeout):
		p.Stop()
		return nil, &StartError{Name: name, Reason: fmt.Sprintf("no READY line within %v", timeout), Stderr: p.stderr.String()}
	}
}

// PID of the child (for taskset the exec'd command keeps the PID).
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Stderr returns the tail of the child's stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited reports whether the child has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Freeze stops the child (SIGSTOP) until Thaw: it uses no CPU meanwhile.
func (p *Process) Freeze() error { return p.Cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen child (SIGCONT).
func (p *Process) Thaw() error { return p.Cmd.Process.Signal(syscall.SIGCONT) }

// Stop sends SIGTERM, waits up to 5 s (the contract's limit), then SIGKILL.
// It returns an error if the child had to be killed.
func (p *Process) Stop() error {
	if p.Exited() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	_ = p.Cmd.Process.Signal(syscall.SIGCONT) // a frozen child must run to exit
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for 5 s; killed", p.Name, p.PID())
	}
}

// Wait waits for the child to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrNoProc means /proc has no such process (it exited).
var ErrNoProc = errors.New("no such process")
