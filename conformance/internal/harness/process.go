package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// ReadyTimeout bounds how long a process may take to print READY.
const ReadyTimeout = 15 * time.Second

// StopTimeout is the contract's SIGTERM budget.
const StopTimeout = 5 * time.Second

// capture bounds each output stream: core/supervise keeps its first 2 KiB
// and its last capture bytes (stderr for failure messages; stdout after
// READY, which must stay empty; a client's JSON result).
const capture = 64 << 10

// Proc is a started long-running engine command.
type Proc struct {
	*supervise.Proc
	Addrs []string // addresses from the READY line

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
	if e.Reference {
		t.Fatalf("start %s %s: %v", e.Name, strings.Join(args, " "), errReference)
	}
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
		problem := p.cleanupStop()
		if problem != "" {
			t.Logf("%s: %s", p.Name, problem)
		}
		recordShutdown(e.Name, t.Name(), problem)
	})
	return p
}

// StartProc is Start without a testing.TB; the caller must Stop it.
func StartProc(e Engine, args ...string) (*Proc, error) {
	if e.Reference {
		return nil, errReference
	}
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

// spec is how the harness runs e with args.
func spec(e Engine, args []string) supervise.Spec {
	return e.place(supervise.Spec{Name: e.Name + " " + firstArg(args), Path: e.Path, Args: args,
		Capture: capture, Grace: StopTimeout})
}

// place applies e.Place, if any.
func (e Engine) place(s supervise.Spec) supervise.Spec {
	if e.Place != nil {
		return e.Place(s)
	}
	return s
}

func startProc(e Engine, args []string) (*Proc, error) {
	s := spec(e, args)
	s.ReadyWord, s.ReadyTimeout = "READY", ReadyTimeout
	sp, err := supervise.Start(s)
	if se, ok := err.(*supervise.StartError); ok {
		return nil, fmt.Errorf("%s (stdout %q); stderr: %s", se.Reason, se.Stdout, tail(se.Stderr))
	}
	if err != nil {
		return nil, err
	}
	if len(sp.Ready) == 0 {
		_ = sp.Stop()
		return nil, fmt.Errorf("READY line without an address; stderr: %s", tail(sp.Stderr()))
	}
	return &Proc{Proc: sp, Addrs: sp.Ready}, nil
}

func firstArg(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// Addr returns the i-th READY address.
func (p *Proc) Addr(i int) string {
	if i < len(p.Addrs) {
		return p.Addrs[i]
	}
	return ""
}

// StderrTail returns the last lines of stderr, for failure messages.
func (p *Proc) StderrTail() string { return tail(p.Stderr()) }

func tail(s string) string {
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return strings.TrimSpace(s)
}

// Stop stops the process (core/supervise: SIGTERM, SIGKILL after
// StopTimeout) and returns an error unless it exited with status 0 in
// time. Once a test has stopped it, later calls (the Cleanup's) return
// nil: the problem was the test's to report.
func (p *Proc) Stop() error {
	p.mu.Lock()
	already := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if already {
		<-p.Done()
		return nil
	}
	if p.releaseOnStop {
		defer p.slot.release() // after the exit: the tap is gone with it
	}
	return p.Proc.Stop()
}

func (p *Proc) cleanupStop() string {
	err := p.Stop()
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	if x := p.Stdout(); x != "" {
		problems = append(problems, fmt.Sprintf("wrote to stdout after READY: %q", x))
	}
	return strings.Join(problems, "; ")
}

// Result of a short command run to completion.
type Result = supervise.Result

// Run runs e with args to completion within d (Code -1 when killed at the
// deadline).
func Run(e Engine, d time.Duration, args ...string) Result {
	if e.Reference {
		return Result{Stderr: errReference.Error(), Code: -1}
	}
	args, slot, err := withSlot(e, nil, args)
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	defer slot.release()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := supervise.Run(ctx, spec(e, args))
	if err != nil && r.Stderr == "" {
		r.Stderr = err.Error()
	}
	return r
}

// Client is a command started in the background that prints its result
// at the end, as msgr-client does (no READY line).
type Client struct{ *supervise.Proc }

// StartClient starts e with args (with a userspace engine's slot, held
// until the test ends); Cleanup kills it if the case did not wait for it.
func StartClient(t testing.TB, e Engine, args ...string) *Client {
	t.Helper()
	if e.Reference {
		t.Fatalf("%s %s: %v", e.Name, strings.Join(args, " "), errReference)
	}
	p, err := supervise.Start(spec(e, CommandArgs(t, e, args...)))
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if !p.Exited() {
			p.Kill()
			<-p.Done()
		}
	})
	return &Client{p}
}

// Wait returns the client's result once it exited, or an error after d.
func (c *Client) Wait(d time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Proc.Wait(ctx); err != nil && ctx.Err() != nil {
		return Result{}, fmt.Errorf("%s still running after %v", c.Name, d)
	}
	return c.Result(), nil
}
