package peers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// StopTimeout is how long Stop waits after SIGTERM before sending SIGKILL.
const StopTimeout = supervise.DefaultGrace

// DefaultReadyTimeout bounds how long a start waits for its peer to be
// ready. Generous because the test machines are small and shared.
const DefaultReadyTimeout = supervise.DefaultReadyTimeout

// Process is one running peer, a direct child of this process started
// and stopped by core/supervise (PID, Done, Exited, ExitErr, Usage...),
// with its files.
type Process struct {
	*supervise.Proc
	Dir     string // working directory holding its config, data and logs
	LogPath string // the peer's main log (for ceph-mon, its log_file)
	OutPath string // the child's stdout and stderr

	ownDir   bool // Dir was created by us and is removed by Stop
	stopOnce sync.Once
	stopErr  error
	mu       sync.Mutex
	logCache []byte // the log as of Stop, for Log() after Dir is gone
}

// spawn starts name with args in dir, stdout and stderr appended to
// outPath, pinned to cpus when set.
func spawn(name, path string, args []string, dir, outPath, logPath string, cpus []int) (*Process, error) {
	return spawnPlaced(name, path, args, dir, outPath, logPath, cpus, nil)
}

// spawnPlaced is spawn with the spec wrapped by place when set (a
// core/netsim side's namespace).
func spawnPlaced(name, path string, args []string, dir, outPath, logPath string, cpus []int, place func(supervise.Spec) supervise.Spec) (*Process, error) {
	sp := supervise.Spec{Name: name, Path: path, Args: args, Dir: dir, LogFile: outPath, CPUs: cpus,
		Grace: StopTimeout, IgnoreStopStatus: true} // haproxy exits 143 on SIGTERM
	if place != nil {
		sp = place(sp)
	}
	p, err := supervise.Start(sp)
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	if logPath == "" {
		logPath = outPath
	}
	return &Process{Proc: p, Dir: dir, LogPath: logPath, OutPath: outPath}, nil
}

// Alive reports whether the peer is still running (not yet exited).
func (p *Process) Alive() bool { return !p.Exited() }

// Stop ends the peer (supervise.Proc.Stop: SIGTERM, SIGKILL after
// StopTimeout) and removes Dir if the start created it. It returns an
// error if the peer had already exited on its own before Stop (a crash the
// caller should hear about); a peer that needed SIGKILL is not one (its
// shutdown time is its own). Stop is idempotent; later calls return the
// first call's result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	err := p.Proc.Stop()
	switch {
	case errors.Is(err, supervise.ErrKilled):
		err = nil
	case err != nil:
		err = fmt.Errorf("peers: %w\n%s", err, p.LogTail(20))
	}
	if p.ownDir {
		if rmErr := p.removeDir(); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}

// removeDir keeps the log for Log() and removes Dir.
func (p *Process) removeDir() error {
	b := p.readLog()
	p.mu.Lock()
	p.logCache = b
	p.mu.Unlock()
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("peers: %s: remove %s: %w", p.Name, p.Dir, err)
	}
	return nil
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
func (p *Process) CountLog(substr string) int { return supervise.CountLines(p.readLog(), substr) }

// WaitLog waits until at least n log lines contain substr, the peer exits,
// or timeout passes (0: DefaultReadyTimeout).
func (p *Process) WaitLog(substr string, n int, timeout time.Duration) error {
	return p.quote(p.WaitFor(fmt.Sprintf("%d log line(s) containing %q", n, substr), timeout, func() (bool, error) {
		return p.CountLog(substr) >= n, nil
	}))
}

// waitListening waits until every address in addrs has a listening socket
// owned by the peer's PID (supervise.Proc.WaitListening).
func (p *Process) waitListening(addrs []string, timeout time.Duration) error {
	return p.quote(p.WaitListening(timeout, addrs...))
}

// quote adds the log's tail to a failed wait.
func (p *Process) quote(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("peers: %w\n%s", err, p.LogTail(20))
}
