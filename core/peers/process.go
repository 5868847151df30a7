package peers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before sending SIGKILL.
const StopTimeout = 5 * time.Second

// DefaultReadyTimeout bounds how long a start waits for its peer to be
// ready. Generous because the test machines are small and shared.
const DefaultReadyTimeout = 20 * time.Second

// Process is one running peer, a direct child of this process.
type Process struct {
	Name    string   // "haproxy", "ceph-mon"
	PID     int      // the peer's own PID
	Args    []string // full command line
	Dir     string   // working directory holding its config, data and logs
	LogPath string   // the peer's main log (for ceph-mon, its log_file)
	OutPath string   // the child's stdout and stderr

	cmd    *exec.Cmd
	done   chan struct{} // closed once the child has been reaped
	waitEr error         // cmd.Wait's result, valid after done

	ownDir   bool // Dir was created by us and is removed by Stop
	stopOnce sync.Once
	stopErr  error
	mu       sync.Mutex
	logCache []byte // the log as of Stop, for Log() after Dir is gone
}

// spawn starts name with args in dir, stdout and stderr going to outPath.
func spawn(name, path string, args []string, dir, outPath, logPath string) (*Process, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("peers: start %s: %w", name, err)
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	// If this process dies without calling Stop, the kernel kills the peer.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: start %s: %w", name, err)
	}
	if logPath == "" {
		logPath = outPath
	}
	p := &Process{
		Name:    name,
		PID:     cmd.Process.Pid,
		Args:    append([]string{path}, args...),
		Dir:     dir,
		LogPath: logPath,
		OutPath: outPath,
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitEr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Alive reports whether the peer is still running (not yet exited).
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the peer has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is the peer's exit status once it has exited (nil for status 0).
func (p *Process) ExitErr() error {
	select {
	case <-p.done:
		return p.waitEr
	default:
		return nil
	}
}

// Stop ends the peer: SIGTERM to its PID, a wait of up to StopTimeout, then
// SIGKILL, and reaps it. It returns an error if the peer had already
// exited on its own before Stop (a crash the caller should hear about).
// Stop is idempotent; later calls return the first call's result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	var err error
	select {
	case <-p.done:
		err = fmt.Errorf("peers: %s (pid %d) had exited on its own before Stop: %v\n%s", p.Name, p.PID, describeExit(p.waitEr), p.LogTail(20))
	default:
		// os.Process.Signal is safe against PID reuse: it fails once the
		// child has been reaped.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if p.ownDir {
		b := p.readLog()
		p.mu.Lock()
		p.logCache = b
		p.mu.Unlock()
		if rmErr := os.RemoveAll(p.Dir); rmErr != nil && err == nil {
			err = fmt.Errorf("peers: %s: remove %s: %w", p.Name, p.Dir, rmErr)
		}
	}
	return err
}

func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *Process) readLog() []byte {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.logCache
	}
	if p.OutPath != p.LogPath {
		// stdout/stderr matter when the peer fails before opening its log.
		if out, err := os.ReadFile(p.OutPath); err == nil && len(out) > 0 {
			b = append(append(b, "--- stdout/stderr ---\n"...), out...)
		}
	}
	return b
}

// Log is everything the peer has written to its log so far (also after
// Stop, even when Stop removed its directory).
func (p *Process) Log() string { return string(p.readLog()) }

// LogTail is the last n lines of Log, for error messages.
func (p *Process) LogTail(n int) string {
	b := bytes.TrimRight(p.readLog(), "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && len(lines[0]) == 0 {
		return "(" + p.Name + " log is empty)"
	}
	return "--- last lines of " + p.LogPath + " ---\n" + string(bytes.Join(lines, []byte("\n")))
}

// CountLog counts the log lines that contain substr.
func (p *Process) CountLog(substr string) int {
	n := 0
	for line := range strings.SplitSeq(string(p.readLog()), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// WaitLog waits until at least n log lines contain substr, the peer exits,
// or timeout passes.
func (p *Process) WaitLog(substr string, n int, timeout time.Duration) error {
	return p.waitFor(timeout, fmt.Sprintf("%d log line(s) containing %q", n, substr), func() (bool, error) {
		return p.CountLog(substr) >= n, nil
	})
}

// errTimeout marks a readiness wait that ran out of time.
var errTimeout = errors.New("timed out")

// waitFor polls cond with a short, growing interval until it holds, the
// peer exits, or timeout passes. The interval only bounds how late we
// notice; correctness never depends on it.
func (p *Process) waitFor(timeout time.Duration, what string, cond func() (bool, error)) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("peers: %s (pid %d): waiting for %s: %w\n%s", p.Name, p.PID, what, err, p.LogTail(20))
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peers: %s (pid %d): %w after %s waiting for %s\n%s", p.Name, p.PID, errTimeout, timeout, what, p.LogTail(20))
		}
		t := time.NewTimer(delay)
		select {
		case <-p.done:
			t.Stop()
			if ok, _ := cond(); ok {
				return nil
			}
			return fmt.Errorf("peers: %s (pid %d) exited (%v) while waiting for %s\n%s", p.Name, p.PID, describeExit(p.waitEr), what, p.LogTail(20))
		case <-t.C:
		}
		delay = min(delay*2, 25*time.Millisecond)
	}
}

// waitListening waits until every address in addrs has a listening socket
// owned by the peer's PID.
func (p *Process) waitListening(addrs []string, timeout time.Duration) error {
	if len(addrs) == 0 {
		return nil
	}
	return p.waitFor(timeout, "listening on "+strings.Join(addrs, ", "), func() (bool, error) {
		for _, a := range addrs {
			ok, err := listeningBy(p.PID, a)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	})
}
