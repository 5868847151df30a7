package supervise

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStartReady(t *testing.T) {
	NoLeaks(t)
	p := startReady(t, "ready", "127.0.0.1:1", "[::1]:2")
	if len(p.Ready) != 2 || p.Ready[1] != "[::1]:2" {
		t.Fatalf("ready fields %q", p.Ready)
	}
	if err := p.Stop(); err != nil || !p.Exited() {
		t.Fatalf("stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/proc/%d still there after Stop: reaped?", p.PID())
	}
}

func TestStartFailures(t *testing.T) {
	NoLeaks(t)
	for _, tc := range []struct {
		name, mode string
		args       []string
		timeout    time.Duration
		reason     string // in StartError.Reason
		stdout     string // in StartError.Stdout
		gist       string // in Error()
	}{
		{name: "exit", mode: "exit", args: []string{"2", "bad flag --x"}, reason: "exited before READY (exit status 2)", gist: "bad flag --x"},
		{name: "other-line", mode: "exit", args: []string{"1", "oops", `{"err":"refused"}`}, reason: "first stdout line is not READY", stdout: `{"err":"refused"}`},
		{name: "silent", mode: "silent", timeout: 200 * time.Millisecond, reason: "no READY line within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := child(t, tc.mode, tc.args...)
			s.ReadyWord, s.ReadyTimeout = "READY", tc.timeout
			p, err := Start(s)
			var se *StartError
			if !errors.As(err, &se) || p == nil {
				t.Fatalf("want a StartError and the reaped Proc, got %v, %v", p, err)
			}
			if !p.Exited() {
				t.Error("child still running after a failed start")
			}
			if !strings.Contains(se.Reason, tc.reason) || !strings.Contains(se.Stdout, tc.stdout) || !strings.Contains(err.Error(), tc.gist) {
				t.Errorf("got %q (stdout %q)", err, se.Stdout)
			}
		})
	}
	if _, err := Start(Spec{Path: "/nonexistent/prog"}); err == nil || !strings.Contains(err.Error(), "start prog") {
		t.Errorf("missing program: %v", err)
	}
}

func TestStop(t *testing.T) {
	NoLeaks(t)
	for _, tc := range []struct {
		name, mode string
		ignore     bool
		early      bool
		want       error
	}{
		{name: "clean", mode: "ready"},
		{name: "ignores-term", mode: "ignore-term", want: ErrKilled},
		{name: "status", mode: "term-status", want: ErrStopStatus},
		{name: "status-ignored", mode: "term-status", ignore: true},
		{name: "exited-early", mode: "exit", early: true, want: ErrExitedEarly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := child(t, tc.mode, "0", "bye")
			s.IgnoreStopStatus = tc.ignore
			if tc.want == ErrKilled {
				// Only here is the kill the expected end; elsewhere the
				// default grace leaves a slow machine time to exit.
				s.Grace = 200 * time.Millisecond
			}
			if !tc.early {
				s.ReadyWord = "READY"
			}
			p, err := Start(s)
			if err != nil {
				t.Fatal(err)
			}
			if tc.early {
				<-p.Done()
			}
			err = p.Stop()
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Stop = %v, want %v", err, tc.want)
			}
			if tc.early && !strings.Contains(err.Error(), "bye") {
				t.Errorf("early exit without its stderr: %v", err)
			}
			if !p.Exited() {
				t.Error("not reaped after Stop")
			}
		})
	}
}

func TestCapture(t *testing.T) {
	big := strings.Repeat("x", 3*HeadBytes)
	for _, tc := range []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{"short", 8, []string{"ab", "cd"}, "abcd"},
		{"head-then-ring", 4, []string{big[:HeadBytes], "123", "4567"}, big[:HeadBytes] + "\n[... 3 bytes dropped ...]\n4567"},
		{"ring-wraps", 4, []string{big[:HeadBytes], "12", "34", "5", "678"}, big[:HeadBytes] + "\n[... 4 bytes dropped ...]\n5678"},
		{"one-big-write", 4, []string{big[:HeadBytes] + "0123456789"}, big[:HeadBytes] + "\n[... 6 bytes dropped ...]\n6789"},
		{"big-write-after-fill", 4, []string{big[:HeadBytes], "ab", "0123456789"}, big[:HeadBytes] + "\n[... 8 bytes dropped ...]\n6789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture(tc.limit)
			for _, w := range tc.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := c.String(); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if len(c.ring) > tc.limit || len(c.head) > HeadBytes {
				t.Errorf("kept %d+%d bytes, bound %d+%d", len(c.head), len(c.ring), HeadBytes, tc.limit)
			}
		})
	}
}

func TestRun(t *testing.T) {
	NoLeaks(t)
	r, err := Run(context.Background(), child(t, "exit", "4", "to stderr", "to stdout"))
	if err != nil || r.Code != 4 || strings.TrimSpace(r.Stdout) != "to stdout" || strings.TrimSpace(r.Stderr) != "to stderr" || r.Elapsed <= 0 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err = Run(ctx, child(t, "silent"))
	if !errors.Is(err, context.DeadlineExceeded) || r.Code != -1 {
		t.Fatalf("past its deadline: %+v, %v", r, err)
	}
}

func TestStdinAndWaits(t *testing.T) {
	NoLeaks(t)
	s := child(t, "listen-on-eof")
	s.ReadyWord, s.Stdin = "READY", true
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if ok, err := ListeningBy(p.PID(), p.Ready[0]); ok || err != nil {
		t.Fatalf("listening before stdin closed: %v, %v", ok, err)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitListening(10*time.Second, p.Ready[0]); err != nil {
		t.Fatal(err)
	}
	if ok, _ := ListeningBy(os.Getpid(), p.Ready[0]); ok {
		t.Error("the child's socket attributed to the parent")
	}

	log := filepath.Join(t.TempDir(), "log")
	s = child(t, "log-on-eof", log, "quorum reached")
	s.ReadyWord, s.Stdin = "READY", true
	q, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop()
	_ = q.CloseStdin()
	if err := q.WaitLog(log, "quorum", 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	err = q.WaitLog(log, "quorum", 2, 50*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("second quorum line: %v, want a timeout", err)
	}
	// A wait on a child that exits ends at the exit, not the deadline.
	e, err := Start(child(t, "exit", "1", "gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitListening(time.Hour, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("waiting on a dead child: %v", err)
	}
	_ = e.Stop()
}

func TestListeningBy(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		host := "127.0.0.1"
		if network == "tcp6" {
			host = "[::1]"
		}
		l, err := net.Listen(network, host+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		ok, err := ListeningBy(os.Getpid(), addr)
		if err != nil || !ok {
			t.Errorf("%s: listeningBy = %v, %v; want true", addr, ok, err)
		}
		if ok, _ := ListeningBy(1, addr); ok && os.Getpid() != 1 {
			t.Errorf("%s: attributed to pid 1", addr)
		}
		l.Close()
		if ok, _ := ListeningBy(os.Getpid(), addr); ok {
			t.Errorf("%s: still listening after Close", addr)
		}
	}
}

// TestListeningInChildNetns: a child in a network namespace of its own
// (as core/netsim starts them) is seen listening: the socket tables read
// are the child's (/proc/PID/net/tcp), not this process's, where the
// socket does not appear.
func TestListeningInChildNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unsupported: a network namespace of its own needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unsupported: no unshare (util-linux)")
	}
	NoLeaks(t)
	s := child(t, "listen-any")
	s.Args = append([]string{"--net", "--", s.Path}, s.Args...)
	s.Path, s.ReadyWord = "unshare", "READY"
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := p.WaitListening(10*time.Second, p.Ready[0]); err != nil {
		t.Fatal(err)
	}
	ap, _ := parseListenAddr(p.Ready[0])
	here, err := listenSockets(os.Getpid(), "tcp", nil)
	if err != nil || slices.ContainsFunc(here, func(l netip.AddrPort) bool {
		return l.Port() == ap.Port() && (l.Addr() == ap.Addr() || l.Addr().IsUnspecified())
	}) {
		t.Errorf("the child's socket is in this namespace's table (%v, %v): the test proves nothing", here, err)
	}
}

// TestChildOutlivesLockedStarter: a goroutine that locks its thread,
// starts a child and exits ends its thread; Pdeathsig (tied to the forking
// thread) must not kill the child then, because the spawner thread forked
// it.
func TestChildOutlivesLockedStarter(t *testing.T) {
	NoLeaks(t)
	s := child(t, "echo")
	s.ReadyWord, s.Stdin = "READY", true
	type started struct {
		p   *Proc
		tid int
		err error
	}
	ch := make(chan started, 1)
	var starter func()
	starter = func() {
		runtime.LockOSThread()
		if unix.Gettid() == os.Getpid() {
			// The main thread never exits (the runtime parks it instead):
			// keep it busy here so that the retry lands on another thread.
			done := make(chan struct{})
			go func() { starter(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		p, err := Start(s) // the thread stays locked: the runtime ends it
		ch <- started{p, unix.Gettid(), err}
	}
	go starter()
	st := <-ch
	if st.err != nil {
		t.Fatal(st.err)
	}
	p := st.p
	defer p.Stop()
	task := fmt.Sprintf("/proc/self/task/%d", st.tid)
	if err := p.WaitFor("the locked thread to end", 10*time.Second, func() (bool, error) {
		_, err := os.Stat(task)
		return errors.Is(err, os.ErrNotExist), nil
	}); err != nil {
		t.Fatal(err)
	}
	// A SIGKILL sent at the thread's exit would have ended the child
	// before it could answer this.
	if _, err := p.stdin.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor("the echo", 10*time.Second, func() (bool, error) { return strings.Contains(p.Stdout(), "ping"), nil }); err != nil {
		t.Fatal(err)
	}
}

// TestChildDiesWithParent: a child whose parent is SIGKILLed (no Stop)
// is killed by the kernel.
func TestChildDiesWithParent(t *testing.T) {
	NoLeaks(t)
	parent := startReady(t, "parent")
	grandchild, _ := strconv.Atoi(parent.Ready[0])
	parent.Kill()
	<-parent.Done()
	// Once reparented the dead grandchild may stay a zombie until init
	// reaps it: dead either way.
	if err := poll(10*time.Second, nil, func() (bool, error) {
		state, err := procState(grandchild)
		return err != nil || state == 'Z', nil
	}); err != nil {
		state, _ := procState(grandchild)
		t.Fatalf("grandchild %d still running (state %c) after its parent died: %v", grandchild, state, err)
	}
}

func TestFreezeThawAndUsage(t *testing.T) {
	NoLeaks(t)
	p := startReady(t, "ready")
	defer p.Stop()
	for _, step := range []struct {
		do      func() error
		stopped bool
	}{{p.Freeze, true}, {p.Thaw, false}, {p.Freeze, true}} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(fmt.Sprintf("stopped=%v", step.stopped), 10*time.Second, func() (bool, error) {
			st, err := procState(p.PID())
			return (st == 'T') == step.stopped, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	u, err := p.Usage()
	if err != nil || u.RSSBytes <= 0 || u.Threads < 1 {
		t.Fatalf("usage %+v, %v", u, err)
	}
	// Stop thaws a frozen child so that it can act on SIGTERM.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadUsage(p.PID()); !errors.Is(err, ErrNoProc) {
		t.Errorf("usage of a reaped child: %v", err)
	}
}

func TestPinnedStart(t *testing.T) {
	NoLeaks(t)
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for c := range 1024 {
		if mine.IsSet(c) {
			cpu = c
			break
		}
	}
	for _, tc := range []struct {
		cpus []int
		want int // CPUs in the child's mask
	}{{[]int{cpu}, 1}, {nil, mine.Count()}} {
		s := child(t, "ready")
		s.ReadyWord, s.CPUs = "READY", tc.cpus
		p, err := Start(s)
		if err != nil {
			t.Fatal(err)
		}
		var set unix.CPUSet
		err = unix.SchedGetaffinity(p.PID(), &set)
		_ = p.Stop()
		if err != nil || set.Count() != tc.want || (tc.cpus != nil && !set.IsSet(cpu)) {
			t.Errorf("CPUs %v: child's mask has %d CPUs (%v), want %d", tc.cpus, set.Count(), err, tc.want)
		}
	}
}

// fakeT records what NoLeaks reports.
type fakeT struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (f *fakeT) Helper()                   {}
func (f *fakeT) Name() string              { return "fake" }
func (f *fakeT) Cleanup(fn func())         { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(s string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(s, a...)) }

func TestNoLeaks(t *testing.T) {
	f := &fakeT{TB: t}
	NoLeaks(f)
	p := startReady(t, "ready")
	for _, fn := range f.cleanups {
		fn()
	}
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], fmt.Sprintf("pid %d", p.PID())) {
		t.Fatalf("reports %q", f.errs)
	}
	if !p.Exited() {
		t.Fatal("the leaked child was not stopped")
	}
	f = &fakeT{TB: t}
	NoLeaks(f)
	for _, fn := range f.cleanups {
		fn()
	}
	if len(f.errs) != 0 {
		t.Fatalf("no child, yet %q", f.errs)
	}
}

func TestGist(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"warming up\nlisten: address in use\n", "listen: address in use"},
		{"x\nSIGSEGV: segmentation violation\nPC=0x1 m=3 sigcode=1\n\ngoroutine 0 gp=0x1 m=3 mp=0x2 [idle]:\nrax 0x0\ngs     0x0\n",
			"SIGSEGV: segmentation violation | PC=0x1 m=3 sigcode=1 |  | goroutine 0 gp=0x1 m=3 mp=0x2 [idle]: | rax 0x0 | gs     0x0"},
		{"starting\npanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\trax 0x0\n", "panic: boom |  | goroutine 1 [running]: | main.main() | \trax 0x0"},
	} {
		if got := Gist(tc.in); got != tc.want {
			t.Errorf("Gist(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReadUsageSelf(t *testing.T) {
	x := 0
	for i := range 50_000_000 { // so that utime moves
		x += i
	}
	_ = x
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUSeconds <= 0 || u.TickCPUSeconds <= 0 || u.RSSBytes <= 0 || u.PeakBytes < u.RSSBytes || u.Threads < 1 {
		t.Fatalf("implausible usage %+v", u)
	}
	if CPUDelta(Usage{CPUSeconds: 2, TickCPUSeconds: 1}, Usage{CPUSeconds: 1, TickCPUSeconds: 1.5}) != 0.5 {
		t.Fatal("a decreasing schedstat sum must fall back to the ticks")
	}
}

// startReady starts a test child that prints READY, failing t if it
// does not.
func startReady(t *testing.T, mode string, args ...string) *Proc {
	t.Helper()
	s := child(t, mode, args...)
	s.ReadyWord = "READY"
	p, err := Start(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// procState is the state letter of /proc/pid/stat (R, S, T, Z...).
func procState(pid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("bad stat %q", b)
	}
	return b[i+2], nil
}
