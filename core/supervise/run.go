package supervise

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Result is a child run to completion.
type Result struct {
	Stdout, Stderr string // bounded as Spec.Capture says
	// Code is the exit status; -1 when a signal ended the child (Run's
	// deadline included).
	Code    int
	Elapsed time.Duration
	// CPU is the child's user plus system time (rusage).
	CPU time.Duration
}

// Result describes the child once it exited; before that it is zero.
func (p *Proc) Result() Result {
	if !p.Exited() {
		return Result{}
	}
	r := Result{Stdout: p.Stdout(), Stderr: p.Stderr(), Elapsed: p.ended.Sub(p.started)}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
	case errors.As(p.waitErr, &ee):
		r.Code = ee.ExitCode() // -1 for a signal
	default:
		r.Code = -1
	}
	if st := p.cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return r
}

// Run starts s and waits for it to exit. When ctx ends first the child is
// killed (a run past its deadline is wedged; no grace) and Run returns
// what it had said with an error wrapping ctx's. A non-zero exit is not an
// error: it is in Result.Code. s.ReadyWord, if set, must be met first.
func Run(ctx context.Context, s Spec) (Result, error) {
	p, err := Start(s)
	if err != nil {
		return Result{Code: -1}, err
	}
	if err := p.Wait(ctx); err != nil && ctx.Err() != nil {
		p.Kill()
		<-p.done
		return p.Result(), fmt.Errorf("%s: %w after %v", p.Name, ctx.Err(), p.ended.Sub(p.started).Round(time.Millisecond))
	}
	return p.Result(), nil
}
