// Package sshhost places the perf harness's processes on other hosts
// through OpenSSH's own ssh and scp binaries (#20 step 4): one master
// connection per host (ControlMaster), and every command, copy, start,
// stop and result over it. Nothing here speaks SSH itself. Short commands
// (Output) go to one `sh` per host reading them on its stdin; programs
// get sessions of their own, for their own stdio.
//
// A process started on a host is wrapped in `sh -c`, which prints its own
// PID on stderr and then execs the program (Start), or runs it in the
// background, prints its PID, waits and prints `times` (Run), so that the
// harness knows the remote PID: it stops a server with `kill -TERM PID`
// over the connection, and reads its CPU and memory from the host's
// /proc/PID. Killing the local ssh client would not reach the remote
// program (no terminal, so no SIGHUP).
package sshhost

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// Target is ssh://USER@HOST[:PORT].
type Target struct {
	User, Host string
	Port       int // 0: ssh's default (the config's, else 22)
}

// ParseTarget reads ssh://USER@HOST[:PORT] (HOST a name or an address,
// an IPv6 one in brackets). USER is required: the harness never guesses
// an account on another machine.
func ParseTarget(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "ssh" || u.Host == "" || u.User == nil || u.User.Username() == "" {
		return Target{}, fmt.Errorf("%q: want ssh://USER@HOST[:PORT]", s)
	}
	if _, ok := u.User.Password(); ok || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Target{}, fmt.Errorf("%q: want ssh://USER@HOST[:PORT], nothing else (no password, path or query)", s)
	}
	t := Target{User: u.User.Username(), Host: u.Hostname()}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("%q: bad port %q", s, p)
		}
		t.Port = n
	}
	if strings.HasPrefix(t.User, "-") || strings.HasPrefix(t.Host, "-") {
		return Target{}, fmt.Errorf("%q: a user or host starting with '-' would be an ssh option", s)
	}
	return t, nil
}

func (t Target) String() string {
	h := t.Host
	if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
		h = "[" + h + "]"
	}
	if t.Port != 0 {
		return fmt.Sprintf("ssh://%s@%s:%d", t.User, h, t.Port)
	}
	return fmt.Sprintf("ssh://%s@%s", t.User, h)
}

// dest is ssh's and scp's USER@HOST.
func (t Target) dest() string { return t.User + "@" + t.Host }

// scpDest is scp's USER@HOST:PATH (an IPv6 address in brackets).
func (t Target) scpDest(path string) string {
	h := t.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return t.User + "@" + h + ":" + path
}

// Options are how ssh and scp are run.
type Options struct {
	// Args go to every ssh and scp before the destination: "-F FILE",
	// "-i KEY", "-o Name=value" (the user's ~/.ssh/config applies
	// otherwise, as for any ssh).
	Args []string
	// Via, when set, is put before the master connection's ssh command:
	// the perf test's `ip netns exec NETNS`, where the hosts' addresses
	// are reachable from one network namespace only. The commands after
	// it go through the master's socket, a file, reachable from anywhere.
	Via []string
	// SSH and SCP are the binaries; default "ssh" and "scp" from PATH.
	SSH, SCP string
}

// Conn is one master connection to a host.
type Conn struct {
	T      Target
	opt    Options
	dir    string // local: holds the control socket
	sock   string
	master *supervise.Proc
	// shell is one `sh` on the host, reading commands on its stdin, for
	// Output: a session of its own per command would start the user's
	// login shell (and its .bashrc) each time, 0.4-0.6 s on a loaded
	// machine, three times per repetition. mu: one command at a time.
	shell *supervise.Proc
	mu    sync.Mutex
	seq   int
}

// shellCapture bounds what the command shell's stdout keeps: its last
// 256 KiB, which always hold the last command's whole answer (a /proc
// reading is a few KiB).
const shellCapture = 256 << 10

// connectTimeout bounds the master's connection and login.
const connectTimeout = 20 * time.Second

// Dial opens the master connection (`ssh -M -N`, in the foreground,
// under core/supervise) and waits for its control socket, which ssh makes
// once it has logged in.
func Dial(t Target, opt Options) (*Conn, error) {
	if opt.SSH == "" {
		opt.SSH = "ssh"
	}
	if opt.SCP == "" {
		opt.SCP = "scp"
	}
	// The socket's path must fit a sockaddr_un (108 bytes): a short
	// directory of its own.
	dir, err := os.MkdirTemp("", "nmssh-")
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", t, err)
	}
	c := &Conn{T: t, opt: opt, dir: dir, sock: filepath.Join(dir, "c")}
	argv := append(append([]string{}, opt.Via...), opt.SSH, "-M", "-N", "-S", c.sock,
		"-o", "ControlPersist=no", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
		"-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3")
	argv = append(append(argv, c.portArgs("-p")...), opt.Args...)
	argv = append(argv, "--", t.dest())
	p, err := supervise.Start(supervise.Spec{Name: "ssh master " + t.String(), Path: argv[0], Args: argv[1:], IgnoreStopStatus: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ssh %s: %w", t, err)
	}
	c.master = p
	err = p.WaitFor("its control socket", connectTimeout, func() (bool, error) {
		_, err := os.Stat(c.sock)
		return err == nil, nil
	})
	if err != nil {
		_ = p.Stop()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ssh %s: not logged in: %v: %s", t, err, supervise.Gist(p.Stderr()))
	}
	sp := c.spec("sh on "+t.Host, "exec sh")
	sp.Stdin, sp.Capture = true, shellCapture
	if c.shell, err = supervise.Start(sp); err != nil {
		_ = p.Stop()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ssh %s: command shell: %w", t, err)
	}
	return c, nil
}

func (c *Conn) portArgs(flag string) []string {
	if c.T.Port == 0 {
		return nil
	}
	return []string{flag, strconv.Itoa(c.T.Port)}
}

// muxArgs make an ssh or scp go through the master's socket.
func (c *Conn) muxArgs() []string {
	return []string{"-o", "ControlPath=" + c.sock, "-o", "ControlMaster=no", "-o", "BatchMode=yes"}
}

// Close ends the master connection (by its PID) and removes the socket's
// directory.
func (c *Conn) Close() error {
	// The shell exits at the end of its stdin, and its session with it.
	_ = c.shell.CloseStdin()
	select {
	case <-c.shell.Done():
	case <-time.After(5 * time.Second):
	}
	_ = c.shell.Stop()
	err := c.master.Stop()
	if errors.Is(err, supervise.ErrExitedEarly) {
		err = fmt.Errorf("ssh %s: the master connection had ended: %w", c.T, err)
	} else {
		err = nil
	}
	return firstErr(err, os.RemoveAll(c.dir))
}

// spec is `ssh HOST -- sh -c SCRIPT` over the master.
func (c *Conn) spec(name, script string) supervise.Spec {
	argv := append(c.muxArgs(), c.portArgs("-p")...)
	argv = append(append(argv, c.opt.Args...), "--", c.T.dest(), "sh -c "+Quote(script))
	return supervise.Spec{Name: name, Path: c.opt.SSH, Args: argv}
}

// outputTimeout bounds a command's answer when ctx has no deadline.
const outputTimeout = 30 * time.Second

// Output runs script on the host, in a subshell of the command shell
// (stdin from /dev/null), and returns what it printed, stdout and stderr
// together; a non-zero exit is an error with the output's gist. The
// answer is framed by lines naming the command's sequence number, so
// nothing an earlier command printed can pass for this one's.
func (c *Conn) Output(ctx context.Context, script string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	begin := fmt.Sprintf("@@NETMODELS_BEGIN_%d@@", c.seq)
	end := fmt.Sprintf("@@NETMODELS_END_%d@@", c.seq)
	cmd := fmt.Sprintf("echo %s; (%s\n) </dev/null 2>&1; rc=$?; echo; echo %s $rc\n", begin, script, end)
	if err := c.shell.WriteStdin([]byte(cmd)); err != nil {
		return "", fmt.Errorf("ssh %s %q: command shell: %w", c.T, script, err)
	}
	timeout := outputTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var out string
	code := -1
	err := c.shell.WaitFor("the answer to "+strconv.Quote(script), timeout, func() (bool, error) {
		var ok bool
		out, code, ok = framed(c.shell.Stdout(), begin, end)
		return ok, nil
	})
	if err != nil {
		return "", fmt.Errorf("ssh %s %q: %w: %s", c.T, script, err, supervise.Gist(c.shell.Stderr()))
	}
	if code != 0 {
		return out, fmt.Errorf("ssh %s %q: exit status %d: %s", c.T, script, code, supervise.Gist(out))
	}
	return out, nil
}

// framed finds "BEGIN\nOUTPUT\nEND CODE\n" in s, the last BEGIN: the
// output (the newline echoed before END taken off) and the exit code.
func framed(s, begin, end string) (out string, code int, ok bool) {
	i := strings.LastIndex(s, begin+"\n")
	if i < 0 {
		return "", 0, false
	}
	body, rest, found := strings.Cut(s[i+len(begin)+1:], "\n"+end+" ")
	if !found {
		return "", 0, false
	}
	line, _, whole := strings.Cut(rest, "\n")
	if !whole {
		return "", 0, false
	}
	n, err := strconv.Atoi(line)
	if err != nil {
		return "", 0, false
	}
	return body, n, true
}

// MkTemp makes a private directory on the host (its TMPDIR, else /tmp).
func (c *Conn) MkTemp(ctx context.Context) (string, error) {
	out, err := c.Output(ctx, `mktemp -d "${TMPDIR:-/tmp}/netmodels-perf.XXXXXX"`)
	dir := strings.TrimSpace(out)
	if err == nil && !strings.HasPrefix(dir, "/") {
		err = fmt.Errorf("ssh %s: mktemp said %q", c.T, out)
	}
	return dir, err
}

// Copy copies local files into dir on the host with scp (modes kept).
func (c *Conn) Copy(ctx context.Context, dir string, files ...string) error {
	argv := append([]string{"-q", "-p"}, c.muxArgs()...)
	argv = append(append(argv, c.portArgs("-P")...), c.opt.Args...)
	argv = append(append(argv, "--"), files...)
	argv = append(argv, c.T.scpDest(dir+"/"))
	r, err := supervise.Run(ctx, supervise.Spec{Name: "scp " + c.T.Host, Path: c.opt.SCP, Args: argv})
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("exit status %d: %s", r.Code, supervise.Gist(r.Stderr))
	}
	if err != nil {
		return fmt.Errorf("scp to %s:%s: %w", c.T, dir, err)
	}
	return nil
}

// Quote makes s one word for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// command is sp's program line for the remote shell: its directory, its
// pinning (taskset, which execs, as supervise pins from the fork), its
// environment (env, which execs too) and argv, quoted.
func command(sp supervise.Spec) (cd, cmd string) {
	if sp.Dir != "" {
		cd = "cd " + Quote(sp.Dir) + " && "
	}
	var w []string
	if len(sp.CPUs) > 0 {
		cpus := make([]string, len(sp.CPUs))
		for i, c := range sp.CPUs {
			cpus[i] = strconv.Itoa(c)
		}
		w = append(w, "taskset", "-c", strings.Join(cpus, ","))
	}
	if len(sp.Env) > 0 {
		w = append(append(w, "env"), sp.Env...)
	}
	w = append(append(w, sp.Path), sp.Args...)
	for i := range w {
		w[i] = Quote(w[i])
	}
	return cd, strings.Join(w, " ")
}

// pidWord starts the stderr line that gives the remote program's PID.
const pidWord = "NETMODELS_REMOTE_PID"

var pidLine = regexp.MustCompile(`(?m)^` + pidWord + ` ([0-9]+)$`)

// remotePID finds the PID line in a remote program's stderr.
func remotePID(stderr string) (int, bool) {
	m := pidLine.FindStringSubmatch(stderr)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 1
}

// Proc is a program started on a host by Start.
type Proc struct {
	Name  string
	c     *Conn
	local *supervise.Proc // the ssh client carrying its stdio
	pid   int
	grace time.Duration
	quiet bool // IgnoreStopStatus

	stopOnce sync.Once
	stopErr  error
}

// pidTimeout bounds the wait for the PID line, which the shell writes
// before it execs the program, so before any READY line.
const pidTimeout = 10 * time.Second

// Start starts sp on the host: sp.Path is the program's path there.
// ReadyWord, Stdin, Capture and Grace work as under supervise, through
// the ssh client's stdio; Env, Dir and CPUs are applied by the remote
// shell. The program's remote PID is known when Start returns.
func (c *Conn) Start(sp supervise.Spec) (*Proc, error) {
	cd, cmd := command(sp)
	name := sp.Name
	if name == "" {
		name = filepath.Base(sp.Path)
	}
	// $$ is the shell's PID, which exec hands to the program.
	spec := c.spec(name+" on "+c.T.Host, cd+"echo "+pidWord+" $$ >&2 && exec "+cmd)
	spec.Stdin, spec.ReadyWord, spec.ReadyTimeout, spec.Capture = sp.Stdin, sp.ReadyWord, sp.ReadyTimeout, sp.Capture
	local, err := supervise.Start(spec)
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, c: c, local: local, grace: sp.Grace, quiet: sp.IgnoreStopStatus}
	if p.grace <= 0 {
		p.grace = supervise.DefaultGrace
	}
	err = local.WaitFor("its remote PID", pidTimeout, func() (bool, error) {
		pid, ok := remotePID(local.Stderr())
		p.pid = pid
		return ok, nil
	})
	if err != nil {
		local.Kill()
		<-local.Done()
		return nil, fmt.Errorf("start %s on %s: %v: %s", name, c.T, err, supervise.Gist(local.Stderr()))
	}
	return p, nil
}

// PID is the program's PID on its host.
func (p *Proc) PID() int { return p.pid }

// Local is the ssh client that carries the program's stdio: its Ready,
// Stdout, Stderr, WaitFor, WriteStdin and Done are the program's.
func (p *Proc) Local() *supervise.Proc { return p.local }

// Stop stops the program by its PID: SIGTERM over the connection, then
// SIGKILL after the grace, and waits for its ssh client to end (the
// session ends when the program exits). While the client runs, the
// session, and so the program behind that PID, is alive: the PID names no
// other process. Errors as supervise's Stop: ErrExitedEarly, ErrKilled,
// ErrStopStatus. Later calls return the first call's result.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Proc) stop() error {
	if p.local.Exited() {
		return fmt.Errorf("%s on %s: %w (%s): %s", p.Name, p.c.T, supervise.ErrExitedEarly, exitText(p.local), supervise.Gist(p.local.Stderr()))
	}
	var killed bool
	// A failed kill is a program that exited meanwhile (its session then
	// ends) or a connection that broke (the grace runs out, and SIGKILL
	// is tried once more).
	_ = p.signal("TERM")
	t := time.NewTimer(p.grace)
	select {
	case <-p.local.Done():
	case <-t.C:
		killed = true
		_ = p.signal("KILL")
	}
	t.Stop()
	var err error
	select {
	case <-p.local.Done():
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("%s on %s: its ssh session outlived SIGKILL by 10 s; ssh client stopped", p.Name, p.c.T)
	}
	_ = p.local.Stop() // reaps the client (already exited, or stuck)
	switch {
	case err != nil:
		return err
	case killed:
		return fmt.Errorf("%s on %s: %w", p.Name, p.c.T, supervise.ErrKilled)
	case p.local.ExitErr() != nil && !p.quiet:
		return fmt.Errorf("%s on %s: %w (%s): %s", p.Name, p.c.T, supervise.ErrStopStatus, exitText(p.local), supervise.Gist(p.local.Stderr()))
	}
	return nil
}

func exitText(p *supervise.Proc) string {
	if err := p.ExitErr(); err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// signal sends SIG to the program's PID on its host.
func (p *Proc) signal(sig string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.c.Output(ctx, fmt.Sprintf("kill -%s %d", sig, p.pid))
	return err
}

// usageScript prints a process's stat, status and every thread's
// schedstat, separated by lines of "@@".
const usageScript = `cat /proc/%[1]d/stat && echo @@ && cat /proc/%[1]d/status && echo @@ && cat /proc/%[1]d/task/*/schedstat`

// Usage reads the program's CPU time and memory from its host's /proc,
// as supervise's Usage does locally: the CPU figure is on the host's own
// clock, never compared with the harness's.
func (p *Proc) Usage() (supervise.Usage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.c.Output(ctx, fmt.Sprintf(usageScript, p.pid))
	if err != nil {
		return supervise.Usage{}, fmt.Errorf("%s on %s: %w", p.Name, p.c.T, supervise.ErrNoProc)
	}
	return parseUsage(out)
}

func parseUsage(out string) (supervise.Usage, error) {
	parts := strings.Split(out, "@@\n")
	if len(parts) != 3 {
		return supervise.Usage{}, fmt.Errorf("remote /proc: %d parts, want 3", len(parts))
	}
	u, err := supervise.ParseUsage([]byte(parts[0]), []byte(parts[1]))
	if err != nil {
		return u, fmt.Errorf("remote /proc: %w", err)
	}
	var ns int64
	for _, line := range strings.Split(strings.TrimSpace(parts[2]), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			return u, nil // no schedstat: the ticks stand
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return u, nil
		}
		ns += v
	}
	u.CPUSeconds = float64(ns) / 1e9
	return u, nil
}

// Run runs sp on the host to its end and returns what it printed, its
// exit status and its CPU time as the host's shell counted it (`times`:
// its children's user and system time). sp.Path is the program's path
// there. When ctx ends first, the program is killed by its PID and Run
// returns an error wrapping ctx's.
func (c *Conn) Run(ctx context.Context, sp supervise.Spec) (supervise.Result, error) {
	cd, cmd := command(sp)
	name := sp.Name
	if name == "" {
		name = filepath.Base(sp.Path)
	}
	// In the background so the shell outlives it to print times; $! is
	// the program's PID (env and taskset exec). times runs before too:
	// the children's count is inherited across exec, and the login shell
	// that ran this sh may have reaped children of its own (a .bashrc's),
	// so only the difference is the program's.
	if cd != "" {
		cd = strings.TrimSuffix(cd, " && ") + " || exit 125; "
	}
	script := cd + "times >&2; " + cmd + " & pid=$!; echo " + pidWord + " $pid >&2; wait $pid; rc=$?; times >&2; exit $rc"
	spec := c.spec(name+" on "+c.T.Host, script)
	spec.Capture = sp.Capture
	local, err := supervise.Start(spec)
	if err != nil {
		return supervise.Result{Code: -1}, err
	}
	if werr := local.Wait(ctx); werr != nil && ctx.Err() != nil {
		if pid, ok := remotePID(local.Stderr()); ok {
			p := &Proc{Name: name, c: c, local: local, pid: pid}
			_ = p.signal("KILL")
		}
		select {
		case <-local.Done():
		case <-time.After(10 * time.Second):
		}
		local.Kill()
		<-local.Done()
		r := local.Result()
		r.CPU = 0
		return r, fmt.Errorf("%s on %s: %w", name, c.T, ctx.Err())
	}
	r := local.Result()
	r.Stderr, r.CPU = splitTimes(r.Stderr)
	return r, nil
}

// timesLine is one line of `times`: "0m0.004000s 0m0.000000s" (dash),
// "0m0.004s 0m0.000s" (bash).
var timesLine = regexp.MustCompile(`^([0-9]+)m([0-9.]+)s ([0-9]+)m([0-9.]+)s$`)

// splitTimes takes the shell's PID line and its `times` lines (two
// before the program, the shell's and its children's; two after) out of
// stderr and returns the growth of the children's user plus system time
// (0 when the second pair is missing: the shell was killed).
func splitTimes(stderr string) (string, time.Duration) {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var children []time.Duration
	out := lines[:0]
	for i := 0; i < len(lines); i++ {
		if i+1 < len(lines) && timesLine.MatchString(lines[i]) {
			if m := timesLine.FindStringSubmatch(lines[i+1]); m != nil {
				children = append(children, minSec(m[1], m[2])+minSec(m[3], m[4]))
				i++
				continue
			}
		}
		if !strings.HasPrefix(lines[i], pidWord+" ") {
			out = append(out, lines[i])
		}
	}
	var cpu time.Duration
	if len(children) == 2 {
		cpu = children[1] - children[0]
	}
	s := strings.Join(out, "\n")
	if s != "" {
		s += "\n"
	}
	return s, cpu
}

func minSec(m, s string) time.Duration {
	mi, _ := strconv.Atoi(m)
	sf, _ := strconv.ParseFloat(s, 64)
	return time.Duration(mi)*time.Minute + time.Duration(sf*float64(time.Second))
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
